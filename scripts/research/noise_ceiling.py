#!/usr/bin/env python3
# How much of the oracle's gap could a router recover on CEMS if it knew each prompt's expected quality exactly, and
# how does what it recovers grow with the training prompts? (issue 15: are the goals, CLIP ≥ 0.20 and NIMA ≥ 0.15
# gap recovered, EvalMi ≥ +2.0, within what the labels allow, and is the text model or the data size the limit?)
#
# CEMS lists some prompt texts more than once (64 texts on 138 rows); each row is its own rendering (the mean of 3
# images), so two rows of one text differ only by rendering noise. From those pairs:
#   noise      per generator, the variance of a row's quality around the text's expected quality (half the mean
#              squared difference between two rows of one text), raw and after removing each row's mean over the
#              generators (the part routing depends on); reliability = 1 − relative noise / relative variance.
#   replicate  a router whose estimate for a row is another row's measured qualities (every ordered pair of rows of
#              a duplicated text), scored on the row itself: DESIGN.md's gap recovered on those 170 rows, with a
#              bootstrap over the texts (5-95 %). It knows the prompt as well as one more rendering can tell.
#   ceiling    a Gaussian model of the whole file: expected quality = the row's mean over generators + each
#              generator's relative part shrunk by √reliability toward its mean; measured = expected + noise with
#              the per-generator noise variance. The gap recovered of a router predicting the expected quality,
#              scored on the measured one, on draws of 2,000 prompts (a test fold's size): what noise alone leaves.
#   learning   with --embeddings: one split into 5 parts; each part predicted by kernel + krr + lexical (one encoder
#              pass, the prototypes' replica of the CLI's estimators) trained on a random share of the other four
#              (--shares): the gap recovered (EvalMi: the quality gain over the best single generator) and, per
#              generator, R² on the relative part over its reliability, the share of the predictable relative
#              variance the text model captures. How the figures grow with the prompts says whether collecting more
#              would pay. EvalMi-50K has only 10 texts on two rows (too few pairs, --min-pairs): no noise figures,
#              the R² alone (mean and range over its 24 generators).
# Gap recovered uses routing_prototypes.py's helpers (λ sweep on the generators' mean costs, per-prompt costs in
# the score, area over the generators' cost range, zero router = upper hull of single generators).
#
# usage: scripts/research/noise_ceiling.py cems-clip|cems-nima|evalmi-perception|evalmi-correspondence
#            [--shared ../shared/datasets] [--draws 10] [--seed 0] [--min-pairs 30]
#            [--embeddings E.npy [--catimage .build/release/catimage] [--shares 0.125 0.25 0.5 1]]
import argparse, collections, json, os, subprocess, tempfile

import numpy as np

import routing_data

ap = argparse.ArgumentParser()
ap.add_argument('data', choices=['cems-clip', 'cems-nima', 'evalmi-perception', 'evalmi-correspondence'])
ap.add_argument('--shared', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../shared/datasets'))
ap.add_argument('--draws', type=int, default=10)
ap.add_argument('--seed', type=int, default=0)
ap.add_argument('--min-pairs', type=int, default=30, help='fewer pairs of rows of one text: no noise figures')
ap.add_argument('--embeddings', help='MiniLM embeddings cache (.npy, read if present, else written by catimage embed)')
ap.add_argument('--catimage', default='.build/release/catimage')
ap.add_argument('--shares', type=float, nargs='*', default=[0.125, 0.25, 0.5, 1.0],
                help='learning curve: shares of the training part (with --embeddings; none to skip)')
a = ap.parse_args()

gens, Q, C, texts, tau = routing_data.load(a.data, a.shared)
LAMBDAS = np.concatenate([[0], np.geomspace(1e-3, 1e4, 600)])
exec(routing_data.helpers_source())
rng = np.random.default_rng(a.seed)


def gap_recovered(pred, q, c):
    return routing_data.score(pred, q, c, q, gap)


rows_of = collections.defaultdict(list)
for i, t in enumerate(texts):
    rows_of[t].append(i)
duplicated = [rows for rows in rows_of.values() if len(rows) > 1]
relative = Q - Q.mean(1, keepdims=True)
if sum(len(rows) * (len(rows) - 1) // 2 for rows in duplicated) < a.min_pairs:
    print(f'{a.data}: {len(Q)} prompts, {len(gens)} generators, {len(duplicated)} texts on more than one row: '
          f'fewer than {a.min_pairs} pairs of rows, too few to measure the noise')
    duplicated = []
else:
    pairs = np.array([(x, y) for rows in duplicated for x in rows for y in rows if x < y])
    differences = Q[pairs[:, 0]] - Q[pairs[:, 1]]
    noise = (differences ** 2).mean(0) / 2
    centred = differences - differences.mean(1, keepdims=True)
    relative_noise = (centred ** 2).mean(0) / 2
    reliability = np.clip(1 - relative_noise / relative.var(0), 0, 1)
    print(f'{a.data}: {len(Q)} prompts, {len(duplicated)} texts on more than one row, {len(pairs)} pairs of rows, '
          f'{int((np.abs(differences).max(1) == 0).sum())} of them identical')
    print(f'  {"generator":12s} {"noise var":>10s} {"total var":>10s} {"rel. noise":>10s} {"rel. var":>10s} {"reliability":>11s}')
    for m, g in enumerate(gens):
        print(f'  {g:12s} {noise[m]:10.4f} {Q[:, m].var():10.4f} {relative_noise[m]:10.4f} {relative[:, m].var():10.4f} '
              f'{reliability[m]:11.3f}')

    def replicate_gap(texts_rows):
        ordered = np.array([(x, y) for rows in texts_rows for x in rows for y in rows if x != y])
        return gap_recovered(Q[ordered[:, 1]], Q[ordered[:, 0]], C[ordered[:, 0]]), len(ordered)

    figure, n = replicate_gap(duplicated)
    boot = [replicate_gap([duplicated[k] for k in rng.integers(0, len(duplicated), len(duplicated))])[0]
            for _ in range(200)]
    lo, hi = np.percentile(boot, [5, 95])
    print(f'replicate router (estimate = another row of the same text), {n} rows: gap recovered {figure:.3f} '
          f'(bootstrap over texts 5-95 %: {lo:.3f} to {hi:.3f})')

    centre = relative.mean(0)
    expected = Q.mean(1, keepdims=True) + centre + np.sqrt(reliability) * (relative - centre)
    ceilings = []
    for _ in range(a.draws):
        measured = expected + rng.normal(0, np.sqrt(noise), Q.shape)
        part = rng.choice(len(Q), 2000, replace=False)
        ceilings.append(gap_recovered(expected[part], measured[part], C[part]))
    print(f'ceiling (a router knowing the expected quality; Gaussian noise model, {a.draws} draws of 2,000 prompts): '
          f'gap recovered {np.mean(ceilings):.3f} ± {np.std(ceilings, ddof=1):.3f}')

if a.embeddings:
    # One fold split; each part is predicted by kernel + krr + lexical trained on a random share of the other four.
    X = load_embeddings(texts, a.catimage, a.embeddings)
    order = rng.permutation(len(Q))
    parts = np.array_split(order, 5)
    wide = len(gens) > 8
    print(f'learning curve: kernel τ={tau} + krr + lexical, 5 parts, each trained on a share of the other four; '
          f'R² on the relative part' + (' / reliability = share of the predictable variance captured' if duplicated
                                         else '') + (', mean and range over the generators' if wide else ''))
    print(f'  {"share":>5s} {"prompts":>7s} {"gap recovered" if C.any() else "gain over best":>15s}  '
          + ('mean (min to max)' if wide else ' '.join(f'{g:>10s}' for g in gens)))
    for share in a.shares:
        gaps, part_r2 = [], []
        for part in parts:
            rest = np.setdiff1d(order, part)
            fit = rest if share >= 1 else rng.choice(rest, int(round(share * len(rest))), replace=False)
            Xa, Ya, Xb = X[fit], Q[fit], X[part]
            p = (kernel(Xa, Ya, tau)(Xb) + krr(Xa, Ya, Xb)
                 + lexical([texts[i] for i in fit], [texts[i] for i in part], Ya)) / 3
            gaps.append(routing_data.score(p, Q[part], C[part], Ya, gap))
            rp = p - p.mean(1, keepdims=True)
            part_r2.append(1 - ((rp - relative[part]) ** 2).mean(0) / relative[part].var(0))
        captured = np.mean(part_r2, 0) / (reliability if duplicated else 1)
        print(f'  {share:5.3f} {len(fit):7d} {np.mean(gaps):+8.3f} ± {np.std(gaps, ddof=1):.3f}  '
              + (f'{captured.mean():.2f} ({captured.min():.2f} to {captured.max():.2f})' if wide
                 else ' '.join(f'{x:10.2f}' for x in captured)))
