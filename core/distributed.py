"""Data-parallel runs over torch.distributed: who this process is, and what the ranks share."""

from __future__ import annotations

import datetime
import inspect
import json
import os
import socket
import time
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from core.errors import first_line

# A dead rank is noticed at once (its sockets close); the timeout only ends waits on a hung one,
# so it must outlast anything rank 0 does alone while the others wait (a checkpoint, an evaluation).
COLLECTIVE_TIMEOUT_S = float(os.environ.get("TUI_GAN_COLLECTIVE_TIMEOUT", "300"))
# What rank 0 does alone while the others wait at a known place (an evaluation: Inception on the CPU,
# the digit classifier's first training) has no bound worth guessing: they wait this long there.
SOLO_TIMEOUT_S = float(os.environ.get("TUI_GAN_SOLO_TIMEOUT", str(24 * 3600)))
DEATH_WAIT_S = 1.0  # how long rank 0 looks for the process behind a broken connection
_DDP = nn.parallel.DistributedDataParallel
# Newer torch renamed broadcast_buffers; either way buffers are synced once, when wrapping.
_PER_RANK_BUFFERS = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(_DDP).parameters
    else {"broadcast_buffers": False}
)


class Cluster:
    """This process's place in a run launched by torchrun (`WORLD_SIZE`, `RANK`, `LOCAL_RANK`).

    Control traffic (commands, metrics, the run directory, RNG states) goes over a gloo group of
    its own, on the CPU, whatever backend the gradients use.
    """

    def __init__(self, rank: int, world_size: int, local_rank: int) -> None:
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self._control: Any = None
        self._solo: Any = None
        self._peers: list[tuple[str, int]] = []  # (host, pid) of every rank

    @classmethod
    def from_env(cls) -> Cluster | None:
        """The cluster torchrun set up for this process; None for a single process."""
        world = int(os.environ.get("WORLD_SIZE") or 1)
        if world <= 1:
            return None
        return cls(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK") or 0))

    def device(self, device: torch.device) -> torch.device:
        """The device of this rank: its own GPU (cuda:LOCAL_RANK) when the run is on CUDA."""
        if device.type != "cuda":
            return device
        device = torch.device("cuda", self.local_rank)
        torch.cuda.set_device(device)
        return device

    def start(self, device: torch.device) -> None:
        """Join the process group: nccl on CUDA, gloo on the CPU."""
        timeout = datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_S)
        if device.type == "cuda":
            dist.init_process_group("nccl", timeout=timeout, device_id=device)
        else:
            dist.init_process_group("gloo", timeout=timeout)
        self._control = dist.new_group(backend="gloo", timeout=timeout)
        # A group of its own for waits on rank 0 alone: a gloo group's timeout is fixed when it is made.
        self._solo = dist.new_group(
            backend="gloo", timeout=datetime.timedelta(seconds=SOLO_TIMEOUT_S)
        )
        peers: list[Any] = [None] * self.world_size
        dist.all_gather_object(peers, (socket.gethostname(), os.getpid()), group=self._control)
        self._peers = [tuple(p) for p in peers]

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """`module` in DistributedDataParallel; buffers (BatchNorm statistics) stay per rank after
        the first sync, which saves a broadcast on every forward (rank 0's are the ones saved)."""
        kwargs: dict[str, Any] = {**_PER_RANK_BUFFERS}
        if device.type == "cuda":
            kwargs["device_ids"] = [device.index]
        return _DDP(module, **kwargs)

    # -- what the ranks share ------------------------------------------------------------------

    def share_text(self, text: str) -> str:
        """Rank 0's `text` on every rank; an empty text costs one tiny broadcast."""
        data = text.encode()
        size = torch.tensor([len(data)], dtype=torch.int64)
        dist.broadcast(size, 0, group=self._control)
        if not size.item():
            return ""
        buffer = (
            torch.frombuffer(bytearray(data), dtype=torch.uint8)
            if self.rank == 0
            else torch.empty(int(size.item()), dtype=torch.uint8)
        )
        dist.broadcast(buffer, 0, group=self._control)
        return buffer.numpy().tobytes().decode()

    def share_commands(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rank 0's commands (JSON objects) on every rank."""
        text = self.share_text(json.dumps(commands) if commands else "")
        return json.loads(text) if text else []

    def mean(self, values: list[float]) -> list[float]:
        """The mean of `values` over the ranks (so every rank sees the same losses and NaN checks)."""
        total = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(total, group=self._control)
        return (total / self.world_size).tolist()

    def wait_for_rank0(self, flag: str = "") -> str:
        """Every rank waits here until rank 0 arrives (up to SOLO_TIMEOUT_S, never the collective
        timeout), then takes rank 0's `flag`. A rank that dies still ends the wait at once."""
        box = [flag]
        dist.broadcast_object_list(box, src=0, group=self._solo)
        return str(box[0])

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's `obj`, in rank order, on rank 0; None elsewhere."""
        out: list[Any] | None = [None] * self.world_size if self.rank == 0 else None
        dist.gather_object(obj, out, dst=0, group=self._control)
        return out

    # -- when a rank is gone -------------------------------------------------------------------

    def dead_ranks(self) -> list[int]:
        """The ranks on this machine whose process has died (waits briefly: the error on a broken
        connection can come before the dead process is gone). Ranks elsewhere cannot be seen."""
        here = socket.gethostname()
        local = {
            r: pid for r, (host, pid) in enumerate(self._peers) if host == here and r != self.rank
        }
        deadline = time.monotonic() + DEATH_WAIT_S
        while True:
            dead = [r for r, pid in local.items() if not _alive(pid)]
            if dead or time.monotonic() > deadline:
                return dead
            time.sleep(0.05)

    def describe_failure(self, exc: BaseException, step: int) -> str | None:
        """A message naming the rank that died when `exc` is a lost connection to it, else None."""
        if not isinstance(exc, RuntimeError) or not self._peers:
            return None
        dead = self.dead_ranks()
        if dead:
            names = ", ".join(f"rank {r} (pid {self._peers[r][1]})" for r in dead)
            return f"{names} died at step {step}; the run cannot go on without it"
        text = str(exc)
        if "gloo" in text or "Connection" in text or isinstance(exc, dist.DistError):
            return (
                f"lost contact with another rank at step {step} ({first_line(exc)}); "
                "torchrun's log names the rank"
            )
        return None


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped by torchrun, counts as dead)."""
    if not os.path.isdir("/proc"):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: never blame a rank without evidence
