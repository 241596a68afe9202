"""The application: the command line, the report and the experiments.

The report is that of ``widenet reproduce``; the experiments check the chapter's claims.
"""
