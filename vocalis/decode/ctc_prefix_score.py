"""CTC prefix scores for many hypotheses and candidate tokens at once.

For a prefix ``g`` and a candidate token ``c`` the prefix score ``psi(g + c)`` is the
log-probability that the CTC output *starts with* ``g + c`` (Watanabe et al., 2017,
Algorithm 2). The forward variables ``r[t, n|b]`` (paths over frames ``0..t`` that emit
``g`` and end in a non-blank / blank frame) are kept per hypothesis and extended for all
candidates in one pass over time, vectorised over ``(hypotheses, candidates)``.

Frames past an utterance's length are made transparent: blank gets log-probability 0
and every other token ``-inf``, so batched utterances score exactly as they would alone.
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


class CTCPrefixScorer:
    """Prefix scoring state for ``N`` hypotheses of utterances in a batch.

    Args:
        log_probs: CTC log-posteriors ``(N, T, V)`` (one row per hypothesis; rows of the
            same utterance are identical).
        lengths: ``(N,)`` valid frames.
        blank_id / eos_id: token ids of the blank and of ``<sos/eos>``.
    """

    def __init__(self, log_probs: torch.Tensor, lengths: torch.Tensor, blank_id: int, eos_id: int):
        n, t, _ = log_probs.shape
        pad = torch.arange(t, device=log_probs.device)[None, :] >= lengths[:, None]  # (N, T)
        x = log_probs.float().masked_fill(pad[..., None], NEG_INF)
        x[..., blank_id] = x[..., blank_id].masked_fill(pad, 0.0)
        self.x = x.transpose(0, 1).contiguous()  # (T, N, V)
        self.blank_id, self.eos_id, self.frames = blank_id, eos_id, t
        # empty prefix: only blanks so far
        self.r = torch.full((t, n, 2), NEG_INF, device=x.device)  # (T, N, [non-blank, blank])
        self.r[:, :, 1] = torch.cumsum(self.x[:, :, blank_id], dim=0)
        self.psi = torch.zeros(n, device=x.device)  # psi of the current prefixes
        self.prefix_length = 0
        self.last = torch.full((n,), -1, dtype=torch.long, device=x.device)

    def score(self, candidates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prefix scores of extending each hypothesis by each candidate.

        Args:
            candidates: ``(N, K)`` token ids.
        Returns:
            ``(psi (N, K), r (T, N, K, 2))``: ``psi`` is the full prefix log-probability
            (subtract :attr:`psi` for the increment); ``r`` is the new forward state, kept
            for the chosen extensions by :meth:`advance`.
        """
        t_max, n = self.frames, candidates.shape[0]
        xs = torch.gather(self.x, 2, candidates[None].expand(t_max, -1, -1))  # (T, N, K)
        blank = self.x[:, :, self.blank_id][:, :, None]  # (T, N, 1)
        r_sum = torch.logaddexp(self.r[..., 0], self.r[..., 1])  # (T, N)
        # phi: paths that emitted g and may emit c next; after a repeat of the last token
        # only paths ending in blank count
        repeat = (candidates == self.last[:, None])[None]  # (1, N, K)
        phi = torch.where(repeat, self.r[..., 1][..., None], r_sum[..., None])  # (T, N, K)
        r = torch.full((t_max, n, candidates.shape[1], 2), NEG_INF, device=xs.device)
        if self.prefix_length == 0:
            r[0, ..., 0] = xs[0]
        start = max(self.prefix_length, 1)
        for t in range(start, t_max):
            r[t, ..., 0] = torch.logaddexp(r[t - 1, ..., 0], phi[t - 1]) + xs[t]
            r[t, ..., 1] = torch.logaddexp(r[t - 1, ..., 0], r[t - 1, ..., 1]) + blank[t]
        psi = torch.logsumexp(torch.cat([r[0:1, ..., 0], phi[start - 1:-1] + xs[start:]], dim=0), dim=0)
        # ending the hypothesis: all paths that emitted exactly g
        is_eos = candidates == self.eos_id
        psi = torch.where(is_eos, r_sum[-1][:, None].expand_as(psi), psi)
        return psi, r

    def advance(self, parents: torch.Tensor, choice: torch.Tensor, psi: torch.Tensor, r: torch.Tensor,
                tokens: torch.Tensor) -> None:
        """Keep the extensions ``(parents[i], choice[i])`` (indices into the last ``score`` call)."""
        self.r = r[:, parents, choice]  # (T, N, 2)
        self.psi = psi[parents, choice]
        self.last = tokens
        self.prefix_length += 1
