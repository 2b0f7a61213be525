"""Adapters that present third-party attention kernels under the kernel contract.

    sdpa     torch.nn.functional.scaled_dot_product_attention, each backend or PyTorch's choice
    flex     torch FlexAttention, eager or through torch.compile
    layout   [B, L, H, D] (flash-attn style) kernels seen as [B, H, L, D]

kernels/registry.py names them (``attnspec list``); they import nothing of oracles/ or properties/.
"""
