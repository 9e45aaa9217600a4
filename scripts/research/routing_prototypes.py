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
#   lexical   ridge on sublinear TF-IDF of word unigrams + bigrams (min count 2), alone and as a third member; and
#             one ridge on [embedding, w·TF-IDF] (built into the CLI as `lexical`, see LexicalEstimator).
#   lexkernel a similarity kernel on TF-IDF cosine, and one on the mixed similarity cos_emb + w·cos_tfidf.
#   krr       kernel ridge regression on the embeddings (Gram exp((cos − 1)/τ), penalty α), alone, in place of the
#             Nadaraya–Watson kernel and beside it; and one kernel ridge on the sum exp((cos − 1)/τ) + w·cos_tfidf.
#   charlex   ridge on sublinear TF-IDF of character 3–5-grams within words, alone, beside and in place of `lexical`.
#   offsets   per-generator offsets added to the ensemble's predictions (kernel + krr + lexical), chosen by the
#             routing objective (gap recovered) by coordinate search: on the test part itself (a ceiling, not a
#             result) and on 5 inner out-of-fold predictions of the training part (the honest version).
#   layers    other features of the same frozen MiniLM pass (`minilm_layers.py`'s .npz, --layers): the mean-pooled
#             hidden states of each layer, the max-pooled and [CLS] last layer (each centred on the mean of all
#             prompts, test parts included, then L2-normalised), as krr features alone, in place of the sentence
#             embedding and as a fourth member. `layers.py` repeats it on every dataset, centred on the training part.
#   prior     uncertainty: a kernel with κ pseudo-prompts at the training mean, so a prompt with few or far
#             neighbours is pulled toward the best-on-average generator.
#
# usage: scripts/research/routing_prototypes.py clip|nima decision|boost|lexical|prior|lexkernel|krr|charlex|offsets|layers
#            [--catimage .build/release/catimage] [--embeddings cache.npy] [--layers layers.npz]
import argparse, csv, json, os, subprocess, tempfile
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument('metric', choices=['clip', 'nima'])
ap.add_argument('experiment', choices=['decision', 'boost', 'lexical', 'prior', 'lexkernel', 'krr', 'charlex', 'offsets', 'layers'])
ap.add_argument('--catimage', default='.build/release/catimage')
ap.add_argument('--embeddings', help='cache for the MiniLM embeddings (.npy): read if present, else written')
ap.add_argument('--layers', help='layers experiment: minilm_layers.py output for the same prompts in the same order')
ap.add_argument('--cems', default=os.path.join(os.path.dirname(__file__), '../../../shared/datasets/cems'))
a = ap.parse_args()



def load_embeddings(texts, catimage, cache=None):
    """MiniLM embeddings of `texts` from `catimage embed`, read from the .npy `cache` if present, else written there
    (with the prompts, in the same order, beside it as `<cache>.jsonl`: the input `minilm_layers.py` takes)."""
    if cache and os.path.exists(cache):
        return np.load(cache).astype(np.float64)
    with tempfile.TemporaryDirectory() as d:
        prompts = cache + '.jsonl' if cache else os.path.join(d, 'p.jsonl')
        with open(prompts, 'w') as f:
            for t in texts: f.write(json.dumps({'prompt': t}) + '\n')
        out = cache or os.path.join(d, 'x.npy')
        subprocess.run([catimage, 'embed', '--input', prompts, '--output', out],
                       check=True, stdout=subprocess.DEVNULL)
        return np.load(out).astype(np.float64)


gens = ['SD-Turbo', 'SDXL-Turbo', 'TAESD', 'amused']
rows = {}
for g in gens:
    with open(os.path.join(a.cems, f'{a.metric}_score_with_time_{g}.csv'), newline='', encoding='utf-8') as f:
        for r in csv.DictReader(f):
            d = rows.setdefault(r['prompt_id'], {'prompt': r['prompt'], 'q': {}, 'c': {}})
            d['q'][g] = float(r[f'{a.metric}_score']); d['c'][g] = float(r['mean_time'])
keys = [k for k, d in rows.items() if len(d['q']) == len(gens)]
Q = np.array([[rows[k]['q'][g] for g in gens] for k in keys]); C = np.array([[rows[k]['c'][g] for g in gens] for k in keys])
X = load_embeddings([rows[k]['prompt'] for k in keys], a.catimage, a.embeddings)
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


def tfidf(train_texts, texts_list, min_df=2, bigrams=True, chars=False):
    """Sublinear TF-IDF over lower-cased word unigrams (and bigrams), vocabulary and IDF from the training prompts,
    rows L2-normalised; returns one sparse matrix per list in texts_list."""
    import re
    from scipy import sparse

    def grams(t):
        w = re.findall(r"[a-z0-9]+", t.lower())
        if chars:
            return [p[i:i + n] for p in (f' {x} ' for x in w) for n in (3, 4, 5) for i in range(len(p) - n + 1)]
        return w + ([f'{x} {y}' for x, y in zip(w, w[1:])] if bigrams else [])
    df = {}
    for t in train_texts:
        for g in set(grams(t)): df[g] = df.get(g, 0) + 1
    vocab = {g: i for i, g in enumerate(sorted(g for g, n in df.items() if n >= min_df))}
    idf = np.zeros(len(vocab))
    for g, i in vocab.items(): idf[i] = np.log((1 + len(train_texts)) / (1 + df[g])) + 1
    out = []
    for texts in texts_list:
        r, c, v = [], [], []
        for n, t in enumerate(texts):
            counts = {}
            for g in grams(t):
                if g in vocab: counts[vocab[g]] = counts.get(vocab[g], 0) + 1
            if not counts: continue
            ids = np.array(list(counts)); vals = (1 + np.log(np.array(list(counts.values()), float))) * idf[ids]
            vals /= np.linalg.norm(vals); r += [n] * len(ids); c += list(ids); v += list(vals)
        out.append(sparse.csr_matrix((v, (r, c)), shape=(len(texts), len(vocab))))
    return out


def dual_ridge(Ktr, Ytr, alpha):
    """Ridge in dual form on a precomputed Gram matrix; targets standardised per generator, intercept = mean."""
    ym, ys = Ytr.mean(0), Ytr.std(0)
    A = np.linalg.solve(Ktr + alpha * np.eye(len(Ktr)), (Ytr - ym) / ys)
    return lambda Kte: (Kte @ A) * ys + ym


def krr(Xtr, Ytr, Xte, tau=0.2, alpha=1.0):
    """Kernel ridge regression on the similarity kernel exp((cos − 1)/τ) (the CLI's `krr`): predictions for Xte."""
    return dual_ridge(np.exp((Xtr @ Xtr.T - 1) / tau), Ytr, alpha)(np.exp((Xte @ Xtr.T - 1) / tau))


def lexical(train_texts, test_texts, Ytr, alpha=3.0):
    """Ridge on sublinear TF-IDF of words and word pairs (the CLI's `lexical`): predictions for test_texts."""
    Ttr, Tte = tfidf(train_texts, [train_texts, test_texts])
    return dual_ridge((Ttr @ Ttr.T).toarray(), Ytr, alpha)((Tte @ Ttr.T).toarray())


def prior_kernel(Xtr, Ytr, tau, kappa):
    """Kernel regression with a prior of kappa pseudo-prompts at the training mean: weights exp((s − 1)/τ) are not
    renormalised by the nearest neighbour, so a prompt with few or far neighbours is pulled toward the mean."""
    ym = Ytr.mean(0)

    def f(Xt):
        S = np.exp((Xt @ Xtr.T - 1) / tau); w = S.sum(1, keepdims=True)
        return (S @ Ytr + kappa * ym) / (w + kappa)
    return f


def ensemble_kkl(tr_idx, te_idx):
    """kernel τ=0.05 + krr τ=0.2 α=1 + lexical α=3 (equal average) fitted on tr_idx, predicted for te_idx."""
    Xa, Ya, Xb = X[tr_idx], Q[tr_idx], X[te_idx]
    pl = lexical([texts[i] for i in tr_idx], [texts[i] for i in te_idx], Ya)
    return (kernel(Xa, Ya, 0.05)(Xb) + krr(Xa, Ya, Xb) + pl) / 3


def fit_offsets(pred, q, c, rule, steps=np.linspace(-0.3, 0.3, 13), sweeps=3):
    """Per-generator offsets (generator 0 fixed at 0; in units of the spread of per-prompt quality differences)
    maximising gap recovered of pred + offsets on (q, c), by coordinate search."""
    s = (q - q.mean(1, keepdims=True)).std(); b = np.zeros(q.shape[1]); best = gap(pred, q, c, rule)
    for _ in range(sweeps):
        for m in range(1, q.shape[1]):
            for v in steps:
                t = b.copy(); t[m] = v * s; g = gap(pred + t, q, c, rule)
                if g > best + 1e-9: best, b = g, t
    return b


texts = [rows[k]['prompt'] for k in keys]
LAYERS = {}
if a.experiment == 'layers':
    def centred(F):
        F = F - F.mean(0); return F / np.linalg.norm(F, axis=1, keepdims=True)
    npz = np.load(a.layers); assert npz['mean6'].shape == X.shape and np.abs(npz['mean6'] - X).max() < 1e-3
    LAYERS = {name: centred(npz[name].astype(np.float64)) for name in ('mean6', 'mean2', 'mean4', 'max6', 'cls6')}
    LAYERS['mean6+mean2'] = centred(np.hstack([LAYERS['mean6'], LAYERS['mean2']]))
    LAYERS['mean6+mean4'] = centred(np.hstack([LAYERS['mean6'], LAYERS['mean4']]))
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
    elif a.experiment == 'lexical':
        Ttr, Tte = tfidf([texts[i] for i in tr], [[texts[i] for i in tr], [texts[i] for i in te]])
        Ktr = (Ttr @ Ttr.T).toarray(); Kte = (Tte @ Ttr.T).toarray()
        for alpha in (1.0, 3.0, 10.0):
            pl = dual_ridge(Ktr, Ytr, alpha)(Kte)
            res[f'lexical ridge(alpha={alpha})'] = gap(pl, Yte, Cte, rule)
            res[f'kernel+ridge+lexical(alpha={alpha})'] = gap((pr + pk + pl) / 3, Yte, Cte, rule)
        # one ridge on both: Gram matrix of [embedding, w·tf-idf] (embeddings unit-norm, tf-idf rows unit-norm)
        Etr, Ete = X[tr], X[te]
        for w in (0.5, 1.0):
            pc = dual_ridge(Etr @ Etr.T + w * Ktr, Ytr, 3.0)(Ete @ Etr.T + w * Kte)
            res[f'ridge on [emb, {w}*tfidf](alpha=3)'] = gap(pc, Yte, Cte, rule)
            res[f'kernel+ridge on [emb, {w}*tfidf]'] = gap((pk + pc) / 2, Yte, Cte, rule)
    elif a.experiment == 'lexkernel':
        Ttr, Tte = tfidf([texts[i] for i in tr], [[texts[i] for i in tr], [texts[i] for i in te]])
        Ktr = (Ttr @ Ttr.T).toarray(); Kte = (Tte @ Ttr.T).toarray()
        pl = dual_ridge(Ktr, Ytr, 3.0)(Kte)
        res['kernel+ridge+lexical'] = gap((pr + pk + pl) / 3, Yte, Cte, rule)
        Se = X[te] @ X[tr].T

        def soft(S, tau):
            W = np.exp((S - S.max(1, keepdims=True)) / tau); return (W / W.sum(1, keepdims=True)) @ Ytr
        for tau in (0.05, 0.1):
            pt = soft(Kte, tau)
            res[f'tfidf kernel(tau={tau})'] = gap(pt, Yte, Cte, rule)
            res[f'kernel+ridge+lexical+tfidf kernel(tau={tau})'] = gap((pr + pk + pl + pt) / 4, Yte, Cte, rule)
        for w in (0.25, 0.5):
            pm = soft((Se + w * Kte) / (1 + w), 0.05)
            res[f'mixed kernel(w={w})'] = gap(pm, Yte, Cte, rule)
            res[f'mixed kernel(w={w})+ridge+lexical'] = gap((pr + pm + pl) / 3, Yte, Cte, rule)
    elif a.experiment == 'krr':
        Ttr, Tte = tfidf([texts[i] for i in tr], [[texts[i] for i in tr], [texts[i] for i in te]])
        Ktr = (Ttr @ Ttr.T).toarray(); Kte = (Tte @ Ttr.T).toarray()
        pl = dual_ridge(Ktr, Ytr, 3.0)(Kte)
        res['kernel+ridge+lexical'] = gap((pr + pk + pl) / 3, Yte, Cte, rule)
        Str, Ste = Xtr @ Xtr.T, X[te] @ Xtr.T
        for tau in (0.1, 0.2, 0.5):
            Etr, Ete = np.exp((Str - 1) / tau), np.exp((Ste - 1) / tau)
            for alpha in (0.1, 1.0):
                pq = dual_ridge(Etr, Ytr, alpha)(Ete)
                res[f'krr(tau={tau},alpha={alpha})'] = gap(pq, Yte, Cte, rule)
                res[f'krr(tau={tau},alpha={alpha})+ridge+lexical'] = gap((pq + pr + pl) / 3, Yte, Cte, rule)
                res[f'krr(tau={tau},alpha={alpha})+kernel+lexical'] = gap((pq + pk + pl) / 3, Yte, Cte, rule)
                res[f'krr(tau={tau},alpha={alpha})+kernel+ridge+lexical'] = gap((pq + pk + pr + pl) / 4, Yte, Cte, rule)
            for w in (0.5, 1.0):
                pm = dual_ridge(Etr + w * Ktr, Ytr, 1.0)(Ete + w * Kte)
                res[f'krr(tau={tau}) on emb + {w}*tfidf'] = gap(pm, Yte, Cte, rule)
                res[f'krr(tau={tau}) on emb + {w}*tfidf + kernel'] = gap((pm + pk) / 2, Yte, Cte, rule)
                res[f'krr(tau={tau}) on emb + {w}*tfidf + kernel+ridge+lexical'] = gap((pm + pk + pr + pl) / 4, Yte, Cte, rule)
    elif a.experiment == 'charlex':
        Ttr, Tte = tfidf([texts[i] for i in tr], [[texts[i] for i in tr], [texts[i] for i in te]])
        Ktr = (Ttr @ Ttr.T).toarray(); Kte = (Tte @ Ttr.T).toarray()
        pl = dual_ridge(Ktr, Ytr, 3.0)(Kte)
        res['kernel+ridge+lexical'] = gap((pr + pk + pl) / 3, Yte, Cte, rule)
        Htr, Hte = tfidf([texts[i] for i in tr], [[texts[i] for i in tr], [texts[i] for i in te]], chars=True)
        Gtr = (Htr @ Htr.T).toarray(); Gte = (Hte @ Htr.T).toarray()
        for alpha in (1.0, 3.0, 10.0):
            pc = dual_ridge(Gtr, Ytr, alpha)(Gte)
            res[f'char lexical(alpha={alpha})'] = gap(pc, Yte, Cte, rule)
            res[f'kernel+ridge+char lexical(alpha={alpha})'] = gap((pr + pk + pc) / 3, Yte, Cte, rule)
            res[f'kernel+ridge+lexical+char lexical(alpha={alpha})'] = gap((pr + pk + pl + pc) / 4, Yte, Cte, rule)
        pw = dual_ridge(Ktr + Gtr, Ytr, 3.0)(Kte + Gte)
        res['words+chars lexical(alpha=3)'] = gap(pw, Yte, Cte, rule)
        res['kernel+ridge+words+chars lexical(alpha=3)'] = gap((pr + pk + pw) / 3, Yte, Cte, rule)
    elif a.experiment == 'offsets':
        pe = ensemble_kkl(tr, te)
        res['kernel+krr+lexical'] = gap(pe, Yte, Cte, rule)
        res['kernel+krr+lexical, offsets fitted on the test part (ceiling)'] = gap(
            pe + fit_offsets(pe, Yte, Cte, rule), Yte, Cte, rule)
        inner = np.array_split(np.random.default_rng(1).permutation(len(tr)), 5); oof = np.zeros_like(Ytr)
        for h in range(5):
            itr = np.concatenate([inner[g] for g in range(5) if g != h]); oof[inner[h]] = ensemble_kkl(tr[itr], tr[inner[h]])
        b = fit_offsets(oof, Ytr, Ctr, rule)
        print(f'fold {f}: offsets {np.round(b, 4)}', flush=True)
        res['kernel+krr+lexical, offsets from inner folds'] = gap(pe + b, Yte, Cte, rule)
    elif a.experiment == 'layers':
        pl = lexical([texts[i] for i in tr], [texts[i] for i in te], Ytr)
        pq = krr(X[tr], Ytr, X[te])
        res['kernel+krr+lexical'] = gap((pk + pq + pl) / 3, Yte, Cte, rule)
        res['krr'] = gap(pq, Yte, Cte, rule)
        for name, F in LAYERS.items():
            pf = krr(F[tr], Ytr, F[te])
            res[f'krr({name})'] = gap(pf, Yte, Cte, rule)
            res[f'kernel+krr({name})+lexical'] = gap((pk + pf + pl) / 3, Yte, Cte, rule)
            res[f'kernel+krr+lexical+krr({name})'] = gap((pk + pq + pl + pf) / 4, Yte, Cte, rule)
    elif a.experiment == 'prior':
        for tau in (0.05, 0.1):
            for kappa in (0.01, 0.1, 1.0, 10.0):
                pp = prior_kernel(Xtr, Ytr, tau, kappa)(Xte)
                res[f'prior kernel(tau={tau},kappa={kappa})'] = gap(pp, Yte, Cte, rule)
                res[f'prior kernel(tau={tau},kappa={kappa})+ridge'] = gap((pp + pr) / 2, Yte, Cte, rule)
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
    line = f'{k:45s} {v.mean():.4f} ± {v.std(ddof=1):.4f}   paired {d.mean():+.4f} ± {d.std(ddof=1):.4f}'
    for ref in ('kernel+ridge+lexical', 'kernel+krr+lexical'):
        if ref in results and not k.startswith('decision'):
            e = v - np.array(results[ref])
            line += f'   vs {ref} {e.mean():+.4f} ± {e.std(ddof=1):.4f} ({(e > 0).sum()}/5)'
    print(line)
