"""Training speed beside a same-user client abusing the control socket, against beside a plain
CPU-burning process.

A tiny trainer runs in this process (one torch thread) with a long history in its events.jsonl.
In turn, in short interleaved phases, another process of the same user either burns a CPU
(`while True: pass`), floods the socket with commands as fast as it can (reconnecting whenever
it is dropped), or runs 16 clients that connect, replay the history and reconnect in a loop.
Each attacker burns a CPU too, so what the training loses beyond the burner's phase is what
the control server spends on it. Printed: steps/s per phase and round, and the medians of
flood/burner and replay/burner (issue 16 wants at least 0.9).

    python bench/control_abuse.py [--rounds 3] [--phase 3] [--history-mb 3.7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import commands as cmd
from core import events as ev
from core.config import TrainConfig
from core.control import socket_path
from core.trainer import Trainer

BURNER = "while True: pass"
FLOOD = """
import socket, sys, threading
line = b'{"kind": "resume"}\\n' * 512
def drain(s):  # reads the answers, so the server never waits for room to queue them
    try:
        while s.recv(1 << 16):
            pass
    except OSError:
        pass
while True:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sys.argv[1])
        threading.Thread(target=drain, args=(s,), daemon=True).start()
        while True:
            s.sendall(line)
    except OSError:
        pass
    finally:
        s.close()
"""
REPLAY = """
import socket, sys, threading
def client():
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(sys.argv[1])
            tail = b""
            while True:
                data = s.recv(1 << 18)
                if not data or b'"reply": "live"' in tail + data:
                    break
                tail = data[-64:]
        except OSError:
            pass
        finally:
            s.close()
threads = [threading.Thread(target=client, daemon=True) for _ in range(16)]
for t in threads:
    t.start()
threads[0].join()
"""
ATTACKS = {"burner": BURNER, "flood": FLOOD, "replay": REPLAY}


def write_history(run_dir: Path, megabytes: float) -> None:
    """An events.jsonl of `megabytes` from an earlier part of the run (step events, as a run writes)."""
    event = ev.to_json(ev.Alert("info", "an earlier part of the run " + "." * 200, 0))
    line = json.dumps(event) + "\n"
    with open(run_dir / "events.jsonl", "w") as fh:
        fh.write(line * int(megabytes * 2**20 / len(line)))


def steps_per_second(trainer: Trainer, seconds: float) -> float:
    start, t0 = trainer.step, time.perf_counter()
    time.sleep(seconds)
    return (trainer.step - start) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--phase", type=float, default=3.0, help="seconds measured per phase")
    parser.add_argument("--history-mb", type=float, default=3.7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        write_history(run_dir, args.history_mb)
        config = TrainConfig.from_preset(
            "mnist-dcgan",
            width=4,
            batch_size=8,
            subset=64,
            n_samples=4,
            device="cpu",
            cpu_threads=1,
            sample_every=0,
            checkpoint_every=0,
            max_steps=10**7,
            epochs=10**6,
            run_dir=str(run_dir),
        )
        trainer = Trainer(config)
        trainer.start()
        try:
            while trainer.step < 50 or socket_path(run_dir) is None:
                time.sleep(0.1)
            path = str(socket_path(run_dir))
            results: dict[str, list[float]] = {name: [] for name in ATTACKS}
            for r in range(args.rounds):
                for name, code in ATTACKS.items():
                    proc = subprocess.Popen([sys.executable, "-c", code, path])
                    try:
                        time.sleep(0.5)  # let it get going (and the server react)
                        rate = steps_per_second(trainer, args.phase)
                    finally:
                        proc.kill()
                        proc.wait()
                    results[name].append(rate)
                    print(f"round {r + 1}  {name:<7} {rate:7.1f} steps/s", flush=True)
                    time.sleep(0.5)
            median = {name: statistics.median(rates) for name, rates in results.items()}
            print("median steps/s: " + ", ".join(f"{n} {v:.1f}" for n, v in median.items()))
            print(f"flood / burner:  {median['flood'] / median['burner']:.2f}")
            print(f"replay / burner: {median['replay'] / median['burner']:.2f}")
            print(f"clients dropped by the server: {trainer.control.dropped}")
        finally:
            trainer.send(cmd.Stop())
            trainer.join(60)


if __name__ == "__main__":
    main()
