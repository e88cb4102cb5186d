"""The systematic Cauchy generator and its inverses, over GF(2^8).

A stripe has k data shards and m parity shards.  Parity shard j (0-based) is

    P_j = sum over i of  C[j][i] * D_i,   C[j][i] = 1 / (j XOR (m + i))

(sum is XOR, product and inverse in GF(2^8); see docs/FORMAT.md section 12).
Every square submatrix of a Cauchy matrix is invertible, so any k of the
k + m shards determine the data: the generator [I; C] is MDS.  The two sets
{0..m-1} and {m..m+k-1} are disjoint, which needs k + m <= 256.
"""

from __future__ import annotations

from airgap_transfer import limits
from airgap_transfer.engine.parity import gf256


def cauchy(k: int, m: int) -> list[list[int]]:
    """The m x k parity rows for a stripe of k data shards."""
    if k < 1 or m < 1 or k + m > limits.MAX_STRIPE_SHARDS:
        raise ValueError(f"a stripe needs 1 <= k, 1 <= m and k + m <= {limits.MAX_STRIPE_SHARDS} (k={k}, m={m})")
    return [[gf256.inv(j ^ (m + i)) for i in range(k)] for j in range(m)]


def generator_row(k: int, m: int, shard: int) -> list[int]:
    """Row ``shard`` of [I; C]: shards 0..k-1 are data, k..k+m-1 parity."""
    if shard < k:
        return [1 if i == shard else 0 for i in range(k)]
    return cauchy(k, m)[shard - k]


def invert(matrix: list[list[int]]) -> list[list[int]]:
    """Gauss-Jordan inverse of a square matrix over GF(2^8); ValueError if singular."""
    size = len(matrix)
    work = [list(row) + [1 if i == r else 0 for i in range(size)] for r, row in enumerate(matrix)]
    for col in range(size):
        pivot = next((r for r in range(col, size) if work[r][col]), None)
        if pivot is None:
            raise ValueError("matrix is singular")
        work[col], work[pivot] = work[pivot], work[col]
        scale = gf256.inv(work[col][col])
        work[col] = [gf256.mul(scale, v) for v in work[col]]
        for r in range(size):
            factor = work[r][col]
            if r != col and factor:
                work[r] = [v ^ gf256.mul(factor, p) for v, p in zip(work[r], work[col], strict=False)]
    return [row[size:] for row in work]


def recovery_rows(k: int, m: int, available: list[int], wanted: list[int]) -> list[list[int]]:
    """Coefficients that turn the shards ``available`` (exactly k indexes) into the data shards ``wanted``.

    Row t gives D_wanted[t] = sum over r of row[r] * S_available[r].
    """
    if len(available) != k or len(set(available)) != k:
        raise ValueError(f"need exactly {k} distinct shards, got {available}")
    inverse = invert([generator_row(k, m, shard) for shard in available])
    return [inverse[w] for w in wanted]
