"""A child process that prints "start" before a long call and then what became of it: send
it SIGINT once the call runs, and time the answer."""

import signal
import subprocess
import sys
import time


def interrupt_child(script: str, *arguments: str, delay: float = 1.0, timeout: float = 60.0):
    """Run ``script`` with ``arguments`` in a child, send SIGINT ``delay`` seconds after its
    "start" line, and return its next line (split) and the seconds it took to come."""
    with subprocess.Popen([sys.executable, "-c", script, *arguments], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout.readline().strip() == "start"
            time.sleep(delay)
            child.send_signal(signal.SIGINT)
            sent = time.perf_counter()
            line = child.stdout.readline().split()
            stopped = time.perf_counter() - sent
            assert child.wait(timeout=timeout) == 0
        finally:
            if child.poll() is None:
                child.kill()
    return line, stopped
