"""One line about the training device: GPU memory and utilisation through NVML when present, else CPU."""

from __future__ import annotations


def device_summary(device: str, uuid: str | None = None) -> str:
    """`CPU`, or e.g. `cuda:0 NVIDIA A100 · 3.1/40.0 GB · 87% busy` (needs nvidia-ml-py for the numbers).

    `uuid` (the trainer's RunStarted.device_uuid) picks the GPU: NVML numbers every GPU of the
    machine while CUDA numbers those in CUDA_VISIBLE_DEVICES, so cuda:0 may be NVML's GPU 3. Without
    it (runs from before issue 17) the index is taken as NVML's. Blocks on NVML: call it off the UI
    thread."""
    if not device.startswith("cuda"):
        return "CPU" if device.startswith("cpu") or not device else device
    index = int(device.partition(":")[2] or 0)
    try:
        import pynvml  # from nvidia-ml-py; optional
    except ImportError:
        return f"{device} (pip install nvidia-ml-py for memory and utilisation)"
    try:
        pynvml.nvmlInit()
        if uuid:
            handle = pynvml.nvmlDeviceGetHandleByUUID(uuid)
        else:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        name = pynvml.nvmlDeviceGetName(handle)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        busy = pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
    except Exception as exc:
        return f"{device} (NVML: {exc})"
    name = name.decode() if isinstance(name, bytes) else name
    return (
        f"{device} {name} · {memory.used / 2**30:.1f}/{memory.total / 2**30:.1f} GB · {busy}% busy"
    )
