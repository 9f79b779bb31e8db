"""Kill a command once its checkpoint reaches an epoch, as a user's Ctrl-\\ or an OOM killer would."""

import signal
import subprocess
import time


def kill_after_checkpoint(argv, pointer, epoch=2, timeout=240):
    """Starts `argv`, SIGKILLs it once the checkpoint `pointer` (a LATEST file) names `epoch` or later, and returns
    the epoch it had completed."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and not (pointer.exists() and pointer.read_text() >= f"epoch-{epoch:04d}"):
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return int(pointer.read_text().split("-")[1])
