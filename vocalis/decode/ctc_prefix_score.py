"""CTC prefix scores for many hypotheses and candidate tokens at once.

For a prefix ``g`` and a candidate token ``c`` the prefix score ``psi(g + c)`` is the
log-probability that the CTC output *starts with* ``g + c`` (Watanabe et al., 2017,
Algorithm 2). The forward variables ``r[t, n|b]`` (paths over frames ``0..t`` that emit
``g`` and end in a non-blank / blank frame) are kept per hypothesis.

Algorithm 2 walks over time once per output step. Both of its recursions are linear in
probability space, so they have closed forms that need no loop over frames:

    r_n[t] = x_c[t] * (r_n[t-1] + phi[t-1])  =>  r_n[t] = X[t] + logcumsumexp_s(phi[s-1] - X[s-1])
    r_b[t] = x_b[t] * (r_n[t-1] + r_b[t-1])  =>  r_b[t] = B[t] + logcumsumexp_s(r_n[s-1] - B[s-1])

with ``X``/``B`` the running sums of the candidate's / blank's log-probabilities. Every
output step is then a handful of tensor operations whatever the number of frames, and the
new forward variables are computed only for the extensions the beam keeps. The scans run
in float64, where the differences of running sums lose nothing that matters (1e-11 over
thousands of frames).

Frames past an utterance's length are made transparent: blank gets log-probability 0
and every other token ``-inf``, so batched utterances score exactly as they would alone.
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


class CTCPrefixScorer:
    """Prefix scoring state for ``N`` hypotheses of utterances in a batch.

    Args:
        log_probs: CTC log-posteriors ``(B, T, V)``, one row per utterance.
        lengths: ``(B,)`` valid frames.
        blank_id / eos_id: token ids of the blank and of ``<sos/eos>``.
        group: hypotheses per utterance: ``N = B * group`` rows, row ``i`` of utterance
            ``i // group`` (the beam search's layout). The posteriors are kept once per
            utterance, ``(T, B * V)``, and only the candidates' columns are gathered per step:
            a copy per hypothesis would take ``T * N * V`` floats (0.75 GiB for 16 utterances of
            250 frames, beam 10 and 5000 tokens).
    """

    def __init__(self, log_probs: torch.Tensor, lengths: torch.Tensor, blank_id: int, eos_id: int, group: int = 1):
        b, t, v = log_probs.shape
        pad = torch.arange(t, device=log_probs.device)[None, :] >= lengths[:, None]  # (B, T)
        x = log_probs.float().masked_fill(pad[..., None], NEG_INF)
        x[..., blank_id] = x[..., blank_id].masked_fill(pad, 0.0)
        self.x = x.transpose(0, 1).reshape(t, b * v)  # (T, B * V): column u * V + c
        self.row_offset = torch.arange(b, device=x.device).repeat_interleave(group) * v  # (N,)
        self.pad = pad.T.repeat_interleave(group, 1).contiguous()  # (T, N)
        self.blank_id, self.eos_id, self.frames = blank_id, eos_id, t
        blank = x[:, :, blank_id].T.repeat_interleave(group, 1)  # (T, N)
        self.blank_cum = torch.cumsum(blank.double(), dim=0)  # (T, N): B[t]
        n = b * group
        # empty prefix: only blanks so far
        self.r = torch.stack([torch.full_like(self.blank_cum, NEG_INF), self.blank_cum], dim=-1)  # (T, N, 2)
        self.psi = torch.zeros(n, dtype=torch.float64, device=x.device)  # psi of the current prefixes
        self.prefix_length = 0
        self.last = torch.full((n,), -1, dtype=torch.long, device=x.device)

    def score(self, candidates: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Prefix scores of extending each hypothesis by each candidate.

        Args:
            candidates: ``(N, K)`` token ids.
        Returns:
            ``(psi (N, K), state)``: ``psi`` is the full prefix log-probability in float64
            (subtract :attr:`psi` for the increment); ``state`` is what :meth:`advance` needs to
            extend the chosen hypotheses.
        """
        t_max = self.frames
        columns = (self.row_offset[:, None] + candidates).view(-1)  # (N * K,)
        xs = self.x.index_select(1, columns).view(t_max, *candidates.shape).double()  # (T, N, K)
        r_sum = torch.logaddexp(self.r[..., 0], self.r[..., 1])  # (T, N)
        # phi: paths that emitted g and may emit c next; after a repeat of the last token
        # only paths ending in blank count
        repeat = (candidates == self.last[:, None])[None]  # (1, N, K)
        phi = torch.where(repeat, self.r[..., 1][..., None], r_sum[..., None])  # (T, N, K)
        # psi = sum over the frame t where c is first emitted: phi[t-1] * x_c[t]
        start = max(self.prefix_length, 1)
        first = [phi[start - 1:-1] + xs[start:]]
        if self.prefix_length == 0:
            first.append(xs[:1])  # c on frame 0, nothing before it
        psi = torch.logsumexp(torch.cat(first, dim=0), dim=0)
        # ending the hypothesis: all paths that emitted exactly g
        psi = torch.where(candidates == self.eos_id, r_sum[-1][:, None], psi)
        return psi, (phi, xs)

    def advance(self, parents: torch.Tensor, choice: torch.Tensor, psi: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor], tokens: torch.Tensor) -> None:
        """Keep the extensions ``(parents[i], choice[i])`` (indices into the last ``score`` call)."""
        phi, xs = (s[:, parents, choice] for s in state)  # (T, N) each
        self.r = self._forward_variables(phi, xs)
        self.psi = psi[parents, choice]
        self.last = tokens
        self.prefix_length += 1

    def _forward_variables(self, phi: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        """``r (T, N, 2)`` of the extended prefixes, from their ``phi`` and token log-probs ``(T, N)``."""
        start = max(self.prefix_length, 1)
        token_cum = torch.cumsum(xs.masked_fill(self.pad, 0.0), dim=0)  # X[t]; padded frames are cut below
        # the first token may also start on frame 0, with nothing before it
        r_n = _scan(phi, token_cum, start, from_frame0=self.prefix_length == 0).masked_fill(self.pad, NEG_INF)
        r_b = _scan(r_n, self.blank_cum, start, from_frame0=False)
        return torch.stack([r_n, r_b], dim=-1)


def _scan(inflow: torch.Tensor, cum: torch.Tensor, start: int, from_frame0: bool) -> torch.Tensor:
    """Log of ``r[t] = x[t] * (r[t-1] + inflow[t-1])`` for ``t >= start`` (``r`` is 0 before),
    with ``cum`` the running sum of ``log x``: ``r[t] = cum[t] + logcumsumexp_s(inflow[s-1] - cum[s-1])``.
    ``from_frame0`` adds ``r[0] = x[0]``. All ``(T, N)``."""
    entry = torch.full_like(cum, NEG_INF)  # log of what enters at frame s
    entry[start:] = inflow[start - 1:-1] - cum[start - 1:-1]
    if from_frame0:
        entry[0] = 0.0
    return cum + torch.logcumsumexp(entry, dim=0)
