"""Images/s of a training watched by the real app (headless `run_test`) against the headless trainer.

Same config, same number of steps; rounds alternate (headless, app, headless, app…) so that load
from other work on a shared box hits both alike. Speed is read from each run's own step events
(`events.jsonl`), after `--warmup` steps, so model building and app start-up are not counted.

    python bench/tui_throughput.py [--preset mnist-dcgan] [--steps 150] [--warmup 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import events as ev
from core.config import TrainConfig
from core.rundir import RunDir, read_events
from core.trainer import Trainer
from tui_gan.app.app import GanApp
from tui_gan.app.session import InProcessSession


def images_per_second(run_dir: Path, warmup: int, batch_size: int) -> float:
    """Speed between step `warmup` and the last step, from the run's step events."""
    steps = [e for e in read_events(RunDir(run_dir).events) if isinstance(e, ev.StepMetrics)]
    first = next(e for e in steps if e.step >= warmup)
    last = steps[-1]
    return (last.step - first.step) * batch_size / (last.time - first.time)


def headless(config: TrainConfig) -> None:
    """As `tui-gan train --headless` does: the trainer in its background thread, this one waiting."""
    trainer = Trainer(config)
    trainer.start()
    trainer.join()


async def in_app(config: TrainConfig, size: tuple[int, int]) -> None:
    session = InProcessSession(Trainer(config))
    app = GanApp(session, start=session.start)
    async with app.run_test(size=size) as pilot:
        while app.view.state not in ev.FINAL_STATES:
            await pilot.pause(0.2)
        await pilot.pause(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="mnist-dcgan")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--size", default="120x36", help="terminal size of the app, COLSxROWS")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    speeds: dict[str, list[float]] = {"headless": [], "app": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for mode in ("headless", "app"):
                run_dir = Path(tmp) / f"{mode}-{r}"
                config = TrainConfig.from_preset(
                    args.preset, max_steps=args.steps, device="cpu", run_dir=str(run_dir)
                ).with_overrides(args.overrides)
                if mode == "headless":
                    headless(config)
                else:
                    asyncio.run(in_app(config, size))  # type: ignore[arg-type]
                speed = images_per_second(run_dir, args.warmup, config.batch_size)
                speeds[mode].append(speed)
                print(f"round {r + 1} {mode:>8}: {speed:8.1f} img/s", flush=True)
    h, a = statistics.median(speeds["headless"]), statistics.median(speeds["app"])
    print(f"headless trainer: {h:.1f} img/s")
    print(f"in the app:       {a:.1f} img/s")
    print(f"ratio app/headless: {a / h:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
