"""Multi-GPU / multi-node training through torchrun (DistributedDataParallel).

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; when WORLD_SIZE > 1 the trainer joins the process
group (NCCL on CUDA, gloo on the CPU), wraps the network in DDP and lets only rank 0 write.
Without those variables everything here is a no-op, so single-process training takes the same path.
"""

import os
from dataclasses import dataclass


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context_from_environment() -> DistContext:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    return DistContext(int(os.environ.get("RANK", "0")), world_size, int(os.environ.get("LOCAL_RANK", "0")))


def setup(context: DistContext, device):
    """Join the process group; on CUDA each process takes the GPU of its LOCAL_RANK. Returns the device."""
    import torch
    import torch.distributed as dist

    if not context.enabled:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def wrap(net, context: DistContext, device):
    if not context.enabled:
        return net
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(net, device_ids=ids)


def barrier(context: DistContext):
    if context.enabled:
        import torch.distributed as dist

        dist.barrier()


def broadcast_flag(context: DistContext, value: bool, device) -> bool:
    """Rank 0's value of a yes/no decision (e.g. 'stop now'), so that all ranks take the same branch."""
    if not context.enabled:
        return bool(value)
    import torch
    import torch.distributed as dist

    flag = torch.tensor([1 if value else 0], dtype=torch.int32, device=device)
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def average(context: DistContext, value: float, device) -> float:
    """Mean of a number over all ranks (the logged training loss)."""
    if not context.enabled:
        return value
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / context.world_size


def teardown(context: DistContext):
    if context.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
