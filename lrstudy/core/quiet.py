"""TensorFlow's C++ log lines kept out of what the stages print, unless LRSTUDY_TF_LOGS=1.

Importing TensorFlow 2.21 writes abseil's "All log messages before absl::InitializeLog()" line,
oneDNN's and cudart's notices, and on a CPU-only machine `failed call to cuInit: ... (303)`,
which reads like a failure; converting to LiteRT adds a dozen more. C++ code writes them to file
descriptor 2 directly, and before abseil is initialised it ignores TF_CPP_MIN_LOG_LEVEL, so
neither that variable nor Python's logging can hold them back. `quiet_tensorflow()` points
descriptor 2 at a pipe read by a small filter process (this file, run as a script) that drops
those lines and passes everything else through as it comes (progress bars included). Being a
process of its own, the filter outlives a crash of the stage and still shows its last words.
"""

import contextlib
import os
import re
import signal
import subprocess
import sys

SHOW_LOGS = "LRSTUDY_TF_LOGS"  # set to 1 to see TensorFlow's C++ lines
LOG_LINE = re.compile(
    rb"[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.+-]+:\d+\] "  # abseil: I0000 00:00:1.5 9 a.cc:3]
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] "  # TensorFlow's own format
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|To enable the following instructions: .*rebuild TensorFlow"  # cpu_feature_guard's 2nd line
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate"
)
LOG_START = re.compile(rb"[IWEF]\d|\d{4}-|WARNING: All |To enable |INFO: Created ")
LITERAL_STARTS = (b"WARNING: All ", b"To enable ", b"INFO: Created ")
SHORT_START = re.compile(rb"[IWEF]|\d{1,4}")  # too short yet to tell an abseil or a dated line


def may_be_log(pending):
    """Whether an unfinished line is, or with what comes next may be, a log line: a writer
    that falls behind delivers LiteRT's `INFO: ` and its message as separate reads."""
    return bool(
        LOG_START.match(pending)
        or SHORT_START.fullmatch(pending)
        or any(start.startswith(pending) for start in LITERAL_STARTS)
    )


def without_log(line):
    """A finished line (its newline taken off) as it is passed on: whole, or cut where a log
    line begins (one written after a progress bar's last update shares its line)."""
    found = LOG_LINE.search(line)
    return line + b"\n" if found is None else line[: found.start()]


def filtered(pending, chunk):
    """(what to pass on, what to keep waiting for a line's end) after `chunk` arrives."""
    *lines, pending = (pending + chunk).split(b"\n")
    out = b"".join(without_log(line) for line in lines)
    if pending and not may_be_log(pending):  # a progress bar, or a line being written
        out, pending = out + pending, b""
    return out, pending


def run_filter(source=0, target=1):
    """Copy `source` to `target` (file descriptors) without the log lines, until end of file."""
    pending = b""
    while chunk := os.read(source, 1 << 16):
        out, pending = filtered(pending, chunk)
        while out:
            out = out[os.write(target, out) :]
    if pending := without_log(pending).removesuffix(b"\n"):
        os.write(target, pending)


@contextlib.contextmanager
def quiet_tensorflow():
    """Within the block, this process's (and its children's) descriptor 2 runs through the
    filter; afterwards it is the original again, and everything written has been passed on."""
    if os.environ.get(SHOW_LOGS, "") not in ("", "0"):
        yield
        return
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    original = os.dup(2)
    process = subprocess.Popen(
        [sys.executable, "-S", __file__], stdin=read_end, stdout=original, close_fds=True
    )
    os.close(read_end)
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(original, 2)  # the pipe's last writer here is gone: the filter drains and ends
        os.close(original)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


if __name__ == "__main__":
    # Ctrl-C and SIGTERM reach the whole process group: the filter outlives them to pass on
    # what the stage says about them, and ends when the pipe closes.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    run_filter()
