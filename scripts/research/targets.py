#!/usr/bin/env python3
# Research prototype for issue 15: per-prompt target transforms. Every member of the router (kernel, krr, lexical,
# krr on layer 4) is a linear smoother of its training targets, and the choice is an argmax across generators, so
# what it needs is each prompt's *order* of generators, not its raw qualities: a training prompt whose qualities
# spread widely across generators (or hold one outlier image) weighs more in every neighbour's prediction than one
# whose generators are alike. This fits the same four members on per-prompt transformed targets (z-score across
# generators, ranks, the one-hot of the best generator, a softmax) and, with costs, maps predictions back to quality
# units with the raw ensemble's per-prompt mean and spread. numpy replica (NOT the product's evaluation), own 5 folds
# (the order and seed of lowrank.py), paired per part against the raw targets.
# usage: scripts/research/targets.py cems-clip|cems-nima|evalmi-perception|evalmi-correspondence --embeddings CACHE
#            --layers LAYERS.npz (layers.py's files)
import os, sys, time
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import routing_data  # the datasets, their embeddings and routing_prototypes.py's evaluation helpers

ap = routing_data.arguments()
ap.add_argument('--transforms', default='zscore,rank,best,soft0.5,soft1')
ap.add_argument('--mix', default='0.5,1', help='also raw (standardized) + w × transformed, for each w')
a = ap.parse_args()
routing_data.prepare(a, globals())


def transform(Y, name):
    mu, sd = Y.mean(1, keepdims=True), Y.std(1, keepdims=True) + 1e-9
    if name == 'zscore': return (Y - mu) / sd
    if name == 'rank': return np.argsort(np.argsort(Y, 1), 1) / (M - 1)
    if name == 'best':  # plus a trace of the z-score: a generator never best in the part would have no spread
        return (Y == Y.max(1, keepdims=True)).astype(float) + 1e-3 * (Y - mu) / sd
    if name.startswith('soft'):
        s = (Y - mu) / sd / float(name[4:]); p = np.exp(s - s.max(1, keepdims=True)); return p / p.sum(1, keepdims=True)
    raise SystemExit(f'unknown transform {name}')


def members(tr, te, Y):
    pl = lexical([texts[i] for i in tr], [texts[i] for i in te], Y)
    return (kernel(X[tr], Y, tau)(X[te]) + krr(X[tr], Y, X[te]) + pl + krr(L4[tr], Y, L4[te])) / 4


def standardized_rows(P):
    return (P - P.mean(1, keepdims=True)) / (P.std(1, keepdims=True) + 1e-9)


order = np.random.default_rng(0).permutation(N); results = {}
for f, te in enumerate(np.array_split(order, 5)):
    tr = np.setdiff1d(order, te); Ytr = Q[tr]
    raw = members(tr, te, Ytr); preds = {'raw': raw}
    mu, sd = raw.mean(1, keepdims=True), raw.std(1, keepdims=True)
    for name in a.transforms.split(','):
        t = members(tr, te, transform(Ytr, name))
        z = standardized_rows(t)
        preds[name] = mu + z * sd  # the transformed order, in the raw ensemble's per-prompt scale
        for w in [float(v) for v in a.mix.split(',') if v]:
            preds[f'raw+{w:g}×{name}'] = mu + (standardized_rows(raw) + w * z) / (1 + w) * sd
    for k, p in preds.items(): results.setdefault(k, []).append(routing_data.score(p, Q[te], C[te], Ytr, gap))
    print(f'part {f + 1}: ' + ' '.join(f'{k}={v[-1]:+.4f}' for k, v in results.items()), flush=True)
routing_data.print_paired(
    results, 'raw', f'{a.data}: {"quality gain" if quality_only else "gap recovered"}, kernel τ={tau} + krr + lexical + '
    'krr@layer4')
