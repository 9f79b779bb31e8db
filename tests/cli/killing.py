"""Kill a command once its checkpoint reaches an epoch, as a user's Ctrl-\\ or an OOM killer would."""

import signal
import subprocess
import time


def kill_after_checkpoint(argv, pointer, epoch=2, timeout=240, delay=0.0):
    """Starts `argv`, SIGKILLs it `delay` seconds after the checkpoint `pointer` (a LATEST file) names `epoch` or later
    (inside the next epoch), and returns the epoch it had completed."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and not (pointer.exists() and pointer.read_text() >= f"epoch-{epoch:04d}"):
        time.sleep(0.1)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return int(pointer.read_text().split("-")[1])
