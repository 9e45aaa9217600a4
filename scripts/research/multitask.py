#!/usr/bin/env python3
# Research prototype for issue 15: several metrics at once. For kernel, kNN, ridge and lexical a joint fit equals
# separate fits, so multi-task learning can only matter for learned representations. This trains the MLP on frozen
# MiniLM embeddings (one hidden ReLU layer, standardized targets, Adam, early stopping on 10% of the training part by
# the main task's validation MSE) on the main metric alone and jointly with the other metric of the same prompts
# (CEMS: CLIP and NIMA; EvalMi-50K: mos_perception and mos_correspondence), and scores the main metric's routing,
# alone and averaged with kernel + ridge + lexical. numpy replica (NOT the product's evaluation), own 5 folds,
# paired per fold against the single-task MLP.
#
# usage: scripts/research/multitask.py cems-clip|cems-nima|evalmi-perception|evalmi-correspondence
#            [--catimage .build/release/catimage] [--embeddings cache.npy] [--hidden 256] [--weights 1,0.5]
import argparse, csv, json, os, subprocess, sys, tempfile
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import routing_data  # the datasets and routing_prototypes.py's evaluation helpers

ap = argparse.ArgumentParser()
ap.add_argument('data', choices=['cems-clip', 'cems-nima', 'evalmi-perception', 'evalmi-correspondence'])
ap.add_argument('--catimage', default='.build/release/catimage')
ap.add_argument('--embeddings')
ap.add_argument('--hidden', type=int, default=256)
ap.add_argument('--weights', default='1,0.5', help='weights of the auxiliary metric in the joint loss')
ap.add_argument('--seeds', type=int, default=2, help='MLP initialisations averaged per fit')
ap.add_argument('--shared', default=os.path.join(here, '../../../shared/datasets'))
a = ap.parse_args()

source, main = a.data.split('-')
rows = {}
if source == 'cems':
    metrics = [main, 'nima' if main == 'clip' else 'clip']
    gens = ['SD-Turbo', 'SDXL-Turbo', 'TAESD', 'amused']
    for metric in ('clip', 'nima'):  # CLIP's file order first: the same prompt order (and embedding cache) either way
        for g in gens:
            with open(os.path.join(a.shared, 'cems', f'{metric}_score_with_time_{g}.csv'), newline='') as f:
                for r in csv.DictReader(f):
                    d = rows.setdefault(r['prompt_id'], {'prompt': r['prompt'], 'q': {}, 'c': {}})
                    d['q'][(metric, g)] = float(r[f'{metric}_score']); d['c'][g] = float(r['mean_time'])
    tau = 0.05
else:
    metrics = ['mos_' + main, 'mos_' + ('correspondence' if main == 'perception' else 'perception')]
    with open(os.path.join(a.shared, 'evalmi50k', 'evalmi50k_long.csv'), newline='') as f:
        for r in csv.DictReader(f):
            d = rows.setdefault(r['prompt_id'], {'prompt': r['prompt'], 'q': {}, 'c': {}})
            for metric in metrics: d['q'][(metric, r['model'])] = float(r[metric])
            d['c'][r['model']] = 0.0
    gens = sorted({g for d in rows.values() for (_, g) in d['q']})
    tau = 0.1
keys = [k for k, d in rows.items() if len(d['q']) == 2 * len(gens)]
Q = np.array([[rows[k]['q'][(metrics[0], g)] for g in gens] for k in keys])
A = np.array([[rows[k]['q'][(metrics[1], g)] for g in gens] for k in keys])
C = np.array([[rows[k]['c'][g] for g in gens] for k in keys])
texts = [rows[k]['prompt'] for k in keys]
exec(routing_data.helpers_source())
X = load_embeddings(texts, a.catimage, a.embeddings)
assert len(X) == len(texts), f'{len(X)} cached embeddings for {len(texts)} prompts: use another --embeddings file'
N, D = X.shape; M = Q.shape[1]
LAMBDAS = np.concatenate([[0], np.geomspace(1e-3, 1e4, 600)])
quality_only = not C.any()


def score(pred, q, c, qtr, rule):
    if quality_only:  # quality gain of the λ = 0 choices over the best single generator on the training part
        return q[np.arange(len(q)), np.argmax(pred, 1)].mean() - q[:, np.argmax(qtr.mean(0))].mean()
    return gap(pred, q, c, rule)


def mlp(Xtr, Ytr, hidden, aux_weight, seed, epochs=80, lr=1e-3, decay=1e-4, batch=128, patience=10):
    """One hidden ReLU layer on the standardized targets Ytr [N, K]; the first M columns are the main task, the
    rest weighted by aux_weight; early stopping on 10% of Xtr by the main task's MSE. Returns a predictor of the
    main task in Ytr's units."""
    rng = np.random.default_rng(seed)
    mu, sd = Ytr.mean(0), Ytr.std(0) + 1e-12; Z = (Ytr - mu) / sd
    perm = rng.permutation(len(Xtr)); nv = len(Xtr) // 10; va, fi = perm[:nv], perm[nv:]
    K = Z.shape[1]; w = np.ones(K); w[M:] = aux_weight
    P = {'W1': rng.normal(0, np.sqrt(2 / D), (D, hidden)), 'b1': np.zeros(hidden),
         'W2': rng.normal(0, np.sqrt(1 / hidden), (hidden, K)), 'b2': np.zeros(K)}
    m1 = {k: np.zeros_like(v) for k, v in P.items()}; v1 = {k: np.zeros_like(v) for k, v in P.items()}
    best, best_P, wait, t = np.inf, None, 0, 0
    for _ in range(epochs):
        rng.shuffle(fi)
        for s in range(0, len(fi), batch):
            b = fi[s:s + batch]; H = np.maximum(Xtr[b] @ P['W1'] + P['b1'], 0); out = H @ P['W2'] + P['b2']
            G = 2 * (out - Z[b]) * w / (len(b) * K)
            dH = (G @ P['W2'].T) * (H > 0)
            grads = {'W2': H.T @ G, 'b2': G.sum(0), 'W1': Xtr[b].T @ dH, 'b1': dH.sum(0)}
            t += 1
            for k in P:
                g = grads[k] + (decay * P[k] if k[0] == 'W' else 0)
                m1[k] = 0.9 * m1[k] + 0.1 * g; v1[k] = 0.999 * v1[k] + 0.001 * g * g
                P[k] -= lr * (m1[k] / (1 - 0.9 ** t)) / (np.sqrt(v1[k] / (1 - 0.999 ** t)) + 1e-8)
        out = np.maximum(Xtr[va] @ P['W1'] + P['b1'], 0) @ P['W2'] + P['b2']
        loss = ((out[:, :M] - Z[va, :M]) ** 2).mean()
        if loss < best: best, best_P, wait = loss, {k: v.copy() for k, v in P.items()}, 0
        else:
            wait += 1
            if wait >= patience: break
    return lambda Xt: (np.maximum(Xt @ best_P['W1'] + best_P['b1'], 0) @ best_P['W2'] + best_P['b2'])[:, :M] * sd[:M] + mu[:M]


folds = np.array_split(np.random.default_rng(0).permutation(N), 5)
weights = [float(x) for x in a.weights.split(',')]
results = {}
for f in range(5):
    te = folds[f]; tr = np.concatenate([folds[g] for g in range(5) if g != f])
    Xtr, Ytr, Atr, Ctr, Xte, Yte, Cte = X[tr], Q[tr], A[tr], C[tr], X[te], Q[te], C[te]
    rule = Ctr.mean(0)
    pr = ridge(Xtr, Ytr, 10)[0](Xte); pk = kernel(Xtr, Ytr, tau)(Xte)
    pl = lexical([texts[i] for i in tr], [texts[i] for i in te], Ytr)
    res = {'kernel+ridge+lexical': score((pr + pk + pl) / 3, Yte, Cte, Ytr, rule)}
    variants = [('single', Ytr, 0.0)] + [(f'joint(aux={w})', np.hstack([Ytr, Atr]), w) for w in weights]
    for name, T, w in variants:
        pm = np.mean([mlp(Xtr, T, a.hidden, w, seed)(Xte) for seed in range(a.seeds)], 0)
        res[f'mlp {name}'] = score(pm, Yte, Cte, Ytr, rule)
        res[f'kernel+ridge+lexical+mlp {name}'] = score((pr + pk + pl + pm) / 4, Yte, Cte, Ytr, rule)
    for k, v in res.items(): results.setdefault(k, []).append(v)
    print(f'fold {f} done', flush=True)
print(f'{a.data} (auxiliary {metrics[1]}), 5 folds (seed 0), MLP hidden {a.hidden}, {a.seeds} inits averaged')
for k, v in results.items():
    v = np.array(v); line = f'{k:45s} {v.mean():+.4f} ± {v.std(ddof=1):.4f}'
    ref = 'mlp single' if k.startswith('mlp') else ('kernel+ridge+lexical+mlp single' if 'mlp' in k else None)
    if ref and ref != k:
        d = v - np.array(results[ref]); line += f'   paired vs {ref} {d.mean():+.4f} ± {d.std(ddof=1):.4f} ({(d > 0).sum()}/5)'
    print(line)
