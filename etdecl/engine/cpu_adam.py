"""A pure-torch stand-in for ColossalAI's CUDA-only `cpu_adam` kernel, so Gemini's optimizers
(CPUAdam, HybridAdam) run on the CPU accelerator. Installed by `cpu_compat`'s `torch_cpu_adam`
patch; the same AdamW update, one tensor at a time."""

from __future__ import annotations

import math
import types

import torch


class TorchCPUAdamKernel:
    """Pure-torch drop-in for the ``cpu_adam`` extension's ``CPUAdamOptimizer``.

    Same constructor and ``step`` signature, and the same arithmetic as
    ``colossalai/kernel/extensions/csrc/kernel/x86/cpu_adam.cpp`` (``Step_1``)::

        g = grad / loss_scale                      (only if loss_scale > 0)
        g = g + weight_decay * p                   (only if weight_decay > 0 and not adamw_mode)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        denom = sqrt(v) / sqrt(1 - beta2**step) + eps
        p = p - lr * weight_decay * p              (only if weight_decay > 0 and adamw_mode)
        p = p - lr / (1 - beta1**step) * m / denom

    with both bias corrections replaced by 1 when ``bias_correction`` is false. Arithmetic is
    fp32; fp16/bf16 params, grads and moments are read as fp32 and written back in their dtype.
    The grad tensor is never modified.
    """

    def __init__(
        self,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        adamw_mode: bool = True,
    ) -> None:
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.eps, self.weight_decay, self.adamw_mode = eps, weight_decay, adamw_mode

    @torch.no_grad()
    def step(
        self,
        step: int,
        lr: float,
        beta1: float,
        beta2: float,
        eps: float,
        weight_decay: float,
        bias_correction: bool,
        params: torch.Tensor,
        grads: torch.Tensor,
        exp_avg: torch.Tensor,
        exp_avg_sq: torch.Tensor,
        loss_scale: float = -1,
    ) -> None:
        self.lr, self.beta1, self.beta2, self.eps, self.weight_decay = (
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        )
        p = params.float()
        m = exp_avg.float()
        v = exp_avg_sq.float()
        g = grads.float()
        if loss_scale > 0:
            g = g / loss_scale
        if weight_decay > 0 and not self.adamw_mode:
            g = g + weight_decay * p
        if bias_correction:
            bias_correction1 = 1.0 - beta1**step
            bias_correction2_rsqrt = 1.0 / math.sqrt(1.0 - beta2**step)
        else:
            bias_correction1, bias_correction2_rsqrt = 1.0, 1.0
        m.mul_(beta1).add_(g, alpha=1.0 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
        denom = v.sqrt().mul_(bias_correction2_rsqrt).add_(eps)
        if weight_decay > 0 and self.adamw_mode:
            p.mul_(1.0 - lr * weight_decay)
        p.addcdiv_(m, denom, value=-lr / bias_correction1)
        for out, value in ((params, p), (exp_avg, m), (exp_avg_sq, v)):
            if out is not value:  # .float() copied a low-precision tensor: write it back
                out.copy_(value)


class _TorchCPUAdamLoader:
    """Stands in for ``CPUAdamLoader``: ``load()`` returns a module-like ``CPUAdamOptimizer``."""

    def load(self, ext_name: str | None = None) -> types.SimpleNamespace:
        return types.SimpleNamespace(CPUAdamOptimizer=TorchCPUAdamKernel)
