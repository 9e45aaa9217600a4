#!/usr/bin/env python3
# Research prototype for issue 15: does an earlier layer of the same frozen MiniLM pass help routing on every
# dataset? On CEMS CLIP (`routing_prototypes.py clip layers`) kernel ridge regression on the mean-pooled layer 4,
# as a fourth member beside kernel + krr + lexical, added +0.008 ± 0.001 (5/5 parts). This repeats the comparison
# on CEMS NIMA and both EvalMi-50K columns: kernel + krr + lexical, paired per part against itself with krr on
# each feature (--features: the mean-pooled layer L is `meanL`, `a+b` concatenates) alone, in place of krr, as a
# fourth member (krr, or the similarity kernel), and with the kernel on it too (the whole router on that feature);
# each feature centred on the training part's mean (unless --uncentred) and L2-normalised. numpy replica (NOT the
# product's evaluation), own 5 folds (the order and seed of lowrank.py); --sample N: 5 draws of N prompts instead.
#
# Two steps: the first run writes the embeddings cache and the prompts beside it (`<cache>.jsonl`); then
#   ~/.cache/catimage/anchor-venv/bin/python scripts/research/minilm_layers.py --prompts CACHE.jsonl \
#       --output LAYERS.npz --check CACHE
# and run again with --layers LAYERS.npz.
# Built since (session 13): `krr:layer=4` in catimage (EstimatorSpec.onLayer), part of the default estimator;
# `catimage embed --layer L` writes a layer's means as minilm_layers.py's `meanL` (within 1e-5).
# usage: scripts/research/layers.py cems-clip|cems-nima|evalmi-perception|evalmi-correspondence --embeddings CACHE
#            [--layers LAYERS.npz] [--catimage .build/release/catimage]
import argparse, json, os, subprocess, sys, tempfile
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import routing_data  # the datasets and routing_prototypes.py's evaluation helpers

ap = argparse.ArgumentParser()
ap.add_argument('data', choices=['cems-clip', 'cems-nima', 'evalmi-perception', 'evalmi-correspondence'])
ap.add_argument('--catimage', default='.build/release/catimage')
ap.add_argument('--embeddings', required=True)
ap.add_argument('--layers')
ap.add_argument('--features', default='mean2,mean4,mean6+mean4')
ap.add_argument('--uncentred', action='store_true', help='features L2-normalised without centring first')
ap.add_argument('--krr', default='0.2,1', help='τ,α of krr on the features (the sentence embedding\'s krr keeps 0.2,1)')
ap.add_argument('--sample', type=int, help='small data: draws of this many prompts (seeds 1000, 1001, …)')
ap.add_argument('--draws', type=int, default=5)
ap.add_argument('--shared', default=os.path.join(here, '../../../shared/datasets'))
a = ap.parse_args()

gens, Q, C, texts, tau = routing_data.load(a.data, a.shared)
exec(routing_data.helpers_source())
X = load_embeddings(texts, a.catimage, a.embeddings)
assert len(X) == len(texts), f'{len(X)} cached embeddings for {len(texts)} prompts: use another --embeddings file'
if not a.layers:
    sys.exit(f'embeddings in {a.embeddings}, prompts in {a.embeddings}.jsonl: now run minilm_layers.py on them '
             'and this script again with --layers')
N, D = X.shape; M = Q.shape[1]
LAMBDAS = np.concatenate([[0], np.geomspace(1e-3, 1e4, 600)])
quality_only = not C.any()
npz = np.load(a.layers)
assert npz['mean6'].shape == X.shape and np.abs(npz['mean6'] - X).max() < 1e-3, 'layers of other prompts'
FEATURES = a.features.split(',')


def view(name, tr):
    """Feature `name` (parts joined by '+'), each part centred on the training rows `tr` and L2-normalised."""
    def normalised(F):
        if not a.uncentred: F = F - F[tr].mean(0)
        return F / np.linalg.norm(F, axis=1, keepdims=True)
    return normalised(np.hstack([normalised(npz[part].astype(np.float64)) for part in name.split('+')]))



def five_fold(prompts):
    """Each estimator's score on the 5 parts of `prompts` (indices; shuffled with seed 0, as lowrank.py does)."""
    order = prompts[np.random.default_rng(0).permutation(len(prompts))]; results = {}
    for f, te in enumerate(np.array_split(order, 5)):
        tr = np.setdiff1d(order, te); Ytr = Q[tr]
        pl = lexical([texts[i] for i in tr], [texts[i] for i in te], Ytr)
        pk, pq = kernel(X[tr], Ytr, tau)(X[te]), krr(X[tr], Ytr, X[te])
        preds = {'kernel+krr+lexical': (pk + pq + pl) / 3}
        for name in FEATURES:
            G = view(name, tr)
            pf = krr(G[tr], Ytr, G[te], *ftau)
            preds[f'krr({name}) alone'] = pf
            preds[f'kernel+krr({name})+lexical'] = (pk + pf + pl) / 3
            pg = kernel(G[tr], Ytr, tau)(G[te])
            preds[f'kernel({name})+krr({name})+lexical'] = (pg + pf + pl) / 3
            preds[f'kernel+krr+lexical+krr({name})'] = (pk + pq + pl + pf) / 4
            preds[f'kernel+krr+lexical+kernel({name})'] = (pk + pq + pl + pg) / 4
        for k, p in preds.items(): results.setdefault(k, []).append(routing_data.score(p, Q[te], C[te], Ytr, gap))
        if not a.sample: print(f'part {f + 1} done', flush=True)
    return results


ftau = [float(v) for v in a.krr.split(',')]
if a.sample:  # small data: each draw's 5-fold mean, paired across draws
    results = {}
    for d in range(a.draws):
        drawn = np.sort(np.random.default_rng(1000 + d).choice(N, a.sample, replace=False))
        for k, v in five_fold(drawn).items(): results.setdefault(k, []).append(np.mean(v))
    unit = f'{a.draws} draws of {a.sample} prompts, each its 5-fold mean'
else:
    results = five_fold(np.arange(N)); unit = '5 parts'
routing_data.print_paired(
    results, 'kernel+krr+lexical', f'{a.data}: {"quality gain" if quality_only else "gap recovered"} over {unit}; '
    f'kernel τ={tau}, krr τ=0.2 α=1 (features: τ={ftau[0]} α={ftau[1]}), lexical α=3')
