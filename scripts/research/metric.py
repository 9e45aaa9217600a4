#!/usr/bin/env python3
# Research prototype for issue 15: a similarity learned for routing (metric learning for kernel regression, MLKR).
# The kernel and krr members weigh training prompts by MiniLM's cosine, which was trained to make paraphrases
# similar, not prompts that favour the same generator. This learns a linear map A [D, r] so that the similarity
# kernel on normalize(x·A) predicts each training prompt's per-prompt-centred, standardized qualities from the
# *other* training prompts (leave-one-out squared error; minibatches of queries against every training prompt;
# Adam; A starts at the first r columns of the identity and is pulled back to its start by `--decay`), then uses
# the learned features in the kernel and krr members. Serving cost: one [D, r] product per prompt. numpy replica (NOT
# the product's evaluation), own 5 folds (the order and seed of lowrank.py), paired per part against the default
# ensemble kernel + krr + lexical + krr@layer4.
# usage: scripts/research/metric.py cems-clip|cems-nima|evalmi-perception|evalmi-correspondence --embeddings CACHE
#            --layers LAYERS.npz [--rank 384] [--steps 300] [--tau 0.05]
import os, sys, time
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import routing_data  # the datasets, their embeddings and routing_prototypes.py's evaluation helpers

ap = routing_data.arguments()
ap.add_argument('--rank', type=int, default=384)
ap.add_argument('--steps', type=int, default=300)
ap.add_argument('--batch', type=int, default=1024)
ap.add_argument('--lr', type=float, default=1e-3)
ap.add_argument('--decay', type=float, default=0.0, help='L2 pull of A toward its start')
ap.add_argument('--diagonal', action='store_true', help='learn a weight per embedding dimension only (A diagonal)')
ap.add_argument('--tau', type=float, help='kernel τ of the learned metric (default: the dataset\'s kernel τ)')
ap.add_argument('--parts', type=int, default=5)
a = ap.parse_args()
routing_data.prepare(a, globals())
mtau = a.tau or tau


def normalize(U):
    n = np.linalg.norm(U, axis=1, keepdims=True)
    return U / n, n


def learn_metric(Xtr, Ytr, rng):
    """A [D, r] minimising the leave-one-out error of the similarity kernel on normalize(X·A)."""
    Y = (Ytr - Ytr.mean(0)) / Ytr.std(0); Y = (Y - Y.mean(1, keepdims=True)).astype(np.float32)
    Xtr = Xtr.astype(np.float32); n = len(Xtr)
    A0 = np.eye(D, a.rank, dtype=np.float32); A = A0.copy()
    m, v = np.zeros_like(A), np.zeros_like(A)
    for t in range(1, a.steps + 1):
        q = rng.choice(n, min(a.batch, n), replace=False)
        U = Xtr @ A; Z, norms = normalize(U)
        S = (Z[q] @ Z.T) / mtau
        S[np.arange(len(q)), q] = -np.inf                       # leave the query itself out
        S -= S.max(1, keepdims=True); W = np.exp(S); W /= W.sum(1, keepdims=True)
        P = W @ Y; G = (P - Y[q]) / len(q)                       # d loss / d P (loss ½ mean squared error)
        dW = G @ Y.T
        dS = W * (dW - (dW * W).sum(1, keepdims=True)) / mtau
        dZ = dS.T @ Z[q]                                         # through the keys
        dZ[q] += dS @ Z                                          # through the queries
        dU = (dZ - Z * (dZ * Z).sum(1, keepdims=True)) / norms
        g = Xtr.T @ dU + a.decay * (A - A0)
        if a.diagonal: g = np.diag(np.diag(g))
        m = 0.9 * m + 0.1 * g; v = 0.999 * v + 0.001 * g * g
        A -= a.lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        if t % 50 == 0 or t == 1:
            print(f'    step {t}: loo loss {0.5 * ((P - Y[q]) ** 2).sum(1).mean():.4f}', flush=True)
    return A.astype(np.float64)


order = np.random.default_rng(0).permutation(N); results = {}
for f, te in enumerate(np.array_split(order, 5)[:a.parts]):
    tr = np.setdiff1d(order, te); Ytr = Q[tr]; t0 = time.time()
    A = learn_metric(X[tr], Ytr, np.random.default_rng(f))
    Z, _ = normalize(X @ A)
    pl = lexical([texts[i] for i in tr], [texts[i] for i in te], Ytr)
    pk, pq, p4 = kernel(X[tr], Ytr, tau)(X[te]), krr(X[tr], Ytr, X[te]), krr(L4[tr], Ytr, L4[te])
    mk, mq = kernel(Z[tr], Ytr, mtau)(Z[te]), krr(Z[tr], Ytr, Z[te])
    preds = {'default': (pk + pq + pl + p4) / 4, 'kernel(learned) alone': mk, 'krr(learned) alone': mq,
             'kernel alone': pk, 'krr alone': pq,
             'learned kernel+krr, +lexical+krr@4': (mk + mq + pl + p4) / 4,
             'default+kernel(learned)': (pk + pq + pl + p4 + mk) / 5,
             'default+krr(learned)': (pk + pq + pl + p4 + mq) / 5,
             'default+both learned': (pk + pq + pl + p4 + mk + mq) / 6}
    for k, p in preds.items(): results.setdefault(k, []).append(routing_data.score(p, Q[te], C[te], Ytr, gap))
    print(f'part {f + 1} ({time.time() - t0:.0f} s): ' + ' '.join(f'{k}={v[-1]:+.4f}' for k, v in results.items()),
          flush=True)
routing_data.print_paired(
    results, 'default', f'{a.data}: {"quality gain" if quality_only else "gap recovered"}; learned metric rank '
    f'{a.rank}, τ {mtau}, {a.steps} steps of {a.batch}, lr {a.lr}, decay {a.decay}{", diagonal" if a.diagonal else ""}')
