"""Reference attention kernels in torch (CPU and CUDA), under the kernel contract.

    contract      the contract's masks, ALiBi bias and shapes in torch, for these kernels
    dense         softmax(S) V in one piece, any accumulation dtype, either causal alignment
    tiled         online softmax over key tiles with the LSE (FlashAttention-2 style, optional
                  P rounding before P @ V)
    flash_backward  the tiled forward with a hand-written FlashAttention-2 backward (P
                  recomputed from the LSE, D from the stored output, P and dS rounded before
                  their products), as a torch.autograd.Function
    alibi_slopes  the canonical ALiBi slopes for any head count

They share no code with oracles/attention, which judges them (docs/architecture.md).
"""
