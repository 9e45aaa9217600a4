#!/usr/bin/env python3
# Research prototypes for issue 15 (routing quality), in numpy, on CEMS with MiniLM embeddings from `catimage embed`.
# NOT the product's evaluation: a compact replica of DESIGN.md's gap recovered (λ sweep on rule costs, deferral-curve
# area over the generators' cost range, zero router = upper hull of single generators) on its own 5 folds, used to
# decide whether a direction is worth building into `catimage evaluate`. Its kernel + ridge baseline reads 0.127 ±
# 0.034 on CEMS CLIP (catimage evaluate: 0.132 ± 0.007 on its folds); compare rows of one run, paired per fold.
#
#   decision  ridge head fine-tuned on the routing decision: softmax relaxation of argmax(q̂ − λc) at temperature
#             T (relative to the spread of per-prompt quality differences) over 16 λ spread evenly in mean cost,
#             maximising E[true quality − λ·cost]; Adam from the ridge solution (steps, learning rate).
#   boost     ridge plus a similarity kernel fitted on ridge's residuals (in-sample or out-of-fold), weight β.
#
# usage: scripts/research/routing_prototypes.py clip|nima decision|boost [--catimage .build/release/catimage]
import argparse, csv, json, os, subprocess, tempfile
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument('metric', choices=['clip', 'nima'])
ap.add_argument('experiment', choices=['decision', 'boost'])
ap.add_argument('--catimage', default='.build/release/catimage')
ap.add_argument('--cems', default=os.path.join(os.path.dirname(__file__), '../../../shared/datasets/cems'))
a = ap.parse_args()

gens = ['SD-Turbo', 'SDXL-Turbo', 'TAESD', 'amused']
rows = {}
for g in gens:
    with open(os.path.join(a.cems, f'{a.metric}_score_with_time_{g}.csv'), newline='', encoding='utf-8') as f:
        for r in csv.DictReader(f):
            d = rows.setdefault(r['prompt_id'], {'prompt': r['prompt'], 'q': {}, 'c': {}})
            d['q'][g] = float(r[f'{a.metric}_score']); d['c'][g] = float(r['mean_time'])
keys = [k for k, d in rows.items() if len(d['q']) == len(gens)]
Q = np.array([[rows[k]['q'][g] for g in gens] for k in keys]); C = np.array([[rows[k]['c'][g] for g in gens] for k in keys])
with tempfile.TemporaryDirectory() as d:
    with open(os.path.join(d, 'p.jsonl'), 'w') as f:
        for k in keys: f.write(json.dumps({'prompt': rows[k]['prompt']}) + '\n')
    subprocess.run([a.catimage, 'embed', '--input', os.path.join(d, 'p.jsonl'), '--output', os.path.join(d, 'x.npy')],
                   check=True, stdout=subprocess.DEVNULL)
    X = np.load(os.path.join(d, 'x.npy')).astype(np.float64)
N, D = X.shape; M = Q.shape[1]
LAMBDAS = np.concatenate([[0], np.geomspace(1e-3, 1e4, 600)])


def curve(pred, q, c, rule):
    idx = np.arange(len(q)); pts = []
    for lam in LAMBDAS:
        pick = np.argmax(pred - lam * rule, 1); pts.append((c[idx, pick].mean(), q[idx, pick].mean()))
    return np.array(pts)


def area(pts, lo, hi, grid=400):
    cheapest = pts[np.argmin(pts[:, 0]), 1]
    return np.mean([pts[pts[:, 0] <= x + 1e-12, 1].max() if (pts[:, 0] <= x + 1e-12).any() else cheapest
                    for x in np.linspace(lo, hi, grid)])


def zero_area(q, c, lo, hi, grid=400):
    P = np.stack([c.mean(0), q.mean(0)], 1); P = P[np.argsort(P[:, 0])]; hull = []
    for p in P:
        while len(hull) >= 2:
            u, v = hull[-1] - hull[-2], p - hull[-2]
            if u[0] * v[1] - u[1] * v[0] < 0: break
            hull.pop()
        hull.append(p)
    hull = np.array(hull)
    return np.interp(np.linspace(lo, hi, grid), hull[:, 0], np.maximum.accumulate(hull[:, 1])).mean()


def gap(pred, q, c, rule):
    lo, hi = c.mean(0).min(), c.mean(0).max()
    az = zero_area(q, c, lo, hi)
    return (area(curve(pred, q, c, rule), lo, hi) - az) / (area(curve(q, q, c, rule), lo, hi) - az)


def ridge(Xtr, Ytr, alpha):
    mu, ym, ys = Xtr.mean(0), Ytr.mean(0), Ytr.std(0)
    W = np.linalg.solve((Xtr - mu).T @ (Xtr - mu) + alpha * np.eye(D), (Xtr - mu).T @ ((Ytr - ym) / ys))
    return (lambda Xt: ((Xt - mu) @ W) * ys + ym), (mu, W, ym, ys)


def kernel(Xtr, Ytr, tau):
    def f(Xt):
        S = Xt @ Xtr.T; S = np.exp((S - S.max(1, keepdims=True)) / tau); return (S / S.sum(1, keepdims=True)) @ Ytr
    return f


def decision(Xtr, Ytr, Ctr, alpha, T, steps, lr, K=16):
    _, (mu, W0, ym, ys) = ridge(Xtr, Ytr, alpha)
    Xc = Xtr - mu; rule = Ctr.mean(0); W = W0.copy(); b = np.zeros(M)
    T = T * (Ytr - Ytr.mean(1, keepdims=True)).std()
    P0 = Xc @ W * ys + ym; lams = []
    for target in np.linspace(rule.min(), rule.max(), K + 2)[1:-1]:
        lo, hi = 0.0, 1e4
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if rule[np.argmax(P0 - mid * rule, 1)].mean() <= target else (mid, hi)
        lams.append(hi)
    mW, vW, mb, vb = np.zeros_like(W), np.zeros_like(W), np.zeros_like(b), np.zeros_like(b)
    for t in range(1, steps + 1):
        P = Xc @ W * ys + ym + b; G = np.zeros_like(P)
        for lam in lams:
            s = (P - lam * rule) / T; s -= s.max(1, keepdims=True); p = np.exp(s); p /= p.sum(1, keepdims=True)
            r = Ytr - lam * Ctr; G -= p * (r - (p * r).sum(1, keepdims=True)) / T
        G /= len(lams) * len(Xtr)
        for x, g, m_, v_ in ((W, Xc.T @ (G * ys), mW, vW), (b, G.sum(0), mb, vb)):
            m_ *= 0.9; m_ += 0.1 * g; v_ *= 0.999; v_ += 0.001 * g * g
            x -= lr * (m_ / (1 - 0.9 ** t)) / (np.sqrt(v_ / (1 - 0.999 ** t)) + 1e-12)
    return lambda Xt: (Xt - mu) @ W * ys + ym + b


folds = np.array_split(np.random.default_rng(0).permutation(N), 5)
results = {}
for f in range(5):
    te = folds[f]; tr = np.concatenate([folds[g] for g in range(5) if g != f])
    Xtr, Ytr, Ctr, Xte, Yte, Cte = X[tr], Q[tr], C[tr], X[te], Q[te], C[te]
    rule = Ctr.mean(0); rid, _ = ridge(Xtr, Ytr, 10); pr = rid(Xte); pk = kernel(Xtr, Ytr, 0.05)(Xte)
    res = {'ridge': gap(pr, Yte, Cte, rule), 'kernel+ridge': gap((pr + pk) / 2, Yte, Cte, rule)}
    if a.experiment == 'decision':
        for T, steps, lr in ((0.3, 300, 3e-4), (0.1, 300, 3e-4), (0.3, 100, 1e-3)):
            pd = decision(Xtr, Ytr, Ctr, 10, T, steps, lr)(Xte)
            res[f'decision(T={T},{steps} steps,lr={lr})'] = gap(pd, Yte, Cte, rule)
            res[f'kernel+decision(T={T},{steps} steps,lr={lr})'] = gap((pd + pk) / 2, Yte, Cte, rule)
    else:
        fitted = rid(Xtr)
        for tau in (0.03, 0.05, 0.1):
            kr = kernel(Xtr, Ytr - fitted, tau)(Xte)
            for beta in (0.5, 1.0):
                res[f'ridge+{beta}*kernel(tau={tau}) on residuals'] = gap(pr + beta * kr, Yte, Cte, rule)
    for k, v in res.items(): results.setdefault(k, []).append(v)
    print(f'fold {f} done', flush=True)
base = np.array(results['kernel+ridge']); rb = np.array(results['ridge'])
print(f'CEMS {a.metric}, 5 folds (seed 0); paired against ridge for heads alone, kernel+ridge otherwise')
for k, v in results.items():
    v = np.array(v); d = v - (rb if k.startswith('decision') else base)
    print(f'{k:45s} {v.mean():.4f} ± {v.std(ddof=1):.4f}   paired {d.mean():+.4f} ± {d.std(ddof=1):.4f}')
