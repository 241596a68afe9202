"""The application: the command line, the report of ``widenet reproduce`` and the
experiments that check the chapter's claims.
"""
