"""How well each in-process embedder tells a paraphrase of a support reply from a reply about another issue.

Run: ``.venv/bin/python benchmarks/similarity.py [--server URL]``. Prints, per embedder, the mean cosine
similarity of paraphrase pairs and of unrelated pairs, their gap, the AUC (the share of (paraphrase, unrelated)
pairs ranked the right way round), the best single threshold and its accuracy, the load time and the seconds per
text. ``--server`` adds an OpenAI-compatible embeddings endpoint (e.g. ``llama_cpp.server --embedding``).
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_llmgate.backends.embedders import LOCAL_EMBEDDERS, local_embedder
from pytest_llmgate.checks.similar import cosine

# Replies in the example suite's voice (Acme Cloud support), each with a paraphrase: same content, other words.
REPLIES = [
    (
        "Sorry about the double charge: billing will refund the duplicate payment within five working days.",
        "Apologies for charging you twice. Our billing team is returning the extra payment to you.",
    ),
    (
        "You can download February's invoice from Settings, then Billing, then Invoices.",
        "The invoice for February is available under Settings > Billing > Invoices.",
    ),
    (
        "To replace your card, open Billing and choose Update payment method.",
        "Go to the Billing page and pick 'Update payment method' to put a new card on file.",
    ),
    (
        "We'll reissue invoice INV-20931 with your VAT ID on it.",
        "A corrected copy of invoice INV-20931 that shows your VAT number is on its way.",
    ),
    (
        "I've cancelled your yearly plan; the unused months will be refunded to your card.",
        "Your annual subscription is now cancelled and you'll get the unused part back on your card.",
    ),
    (
        "Our engineers are looking into the 503 errors from the API and will post updates on the status page.",
        "The team is investigating the API returning 503; follow the status page for news.",
    ),
    (
        "Thanks for reporting the crash when opening a project in the mobile app; the fix ships in the next update.",
        "The mobile app crashing on project open is fixed in the upcoming release. Thank you for telling us.",
    ),
    (
        "Webhooks failing since this morning are caused by an expired certificate, which we are renewing now.",
        "An expired certificate broke webhook delivery this morning; we're replacing it right now.",
    ),
    (
        "Your data should sync again after you sign out and back in on the desktop app.",
        "Logging out of the desktop app and logging back in will get syncing working again.",
    ),
    (
        "Pages load slowly because of heavy traffic in the EU region; we are adding capacity.",
        "The EU region is under high load, which slows page loads, and we're scaling it up.",
    ),
    (
        "Dark mode is on our roadmap; I've added your vote to the request.",
        "We plan to build a dark theme, and your vote has been counted on that request.",
    ),
    (
        "Weekly scheduled reports aren't available yet, but I've passed your idea to the product team.",
        "You can't schedule reports every week today; your suggestion has gone to our product managers.",
    ),
    (
        "Exporting to CSV from the dashboard is something we're considering for a future release.",
        "We're thinking about adding CSV export to the dashboard in a later version.",
    ),
    (
        "I've sent a password reset link to your email address; it is valid for one hour.",
        "Check your inbox for a link to reset your password. It expires after an hour.",
    ),
    (
        "Since you lost your 2FA phone, we'll verify your identity and then turn off two-factor authentication.",
        "Because the phone with your authenticator is gone, we'll confirm it's you and disable 2FA on the account.",
    ),
    (
        "Your account was locked after too many failed logins; it unlocks automatically in 30 minutes.",
        "Too many wrong passwords locked the account. Wait half an hour and it will unlock by itself.",
    ),
    (
        "SSO sign-in fails because your identity provider's certificate changed; ask your admin to upload the new one.",
        "Single sign-on stopped working after your IdP rotated its certificate, so your admin needs to upload the new one.",
    ),
    (
        "I've changed the login email on your account to the new address you gave us.",
        "Your account now signs in with the new email address you sent.",
    ),
    (
        "Thank you for the kind words about the new logo; I'll share them with the design team.",
        "We're glad you like the new logo! I'll pass your compliment on to our designers.",
    ),
    (
        "We're hiring engineers in Lisbon; you can apply on our careers page.",
        "Our Lisbon office has open engineering roles, listed on the careers page.",
    ),
]
# The same ticket answered with other content (another action, amount or promise): what a similarity check
# should also fail, and harder than a reply about another issue, as most words are shared.
CONTRADICTIONS = [
    "Sorry, but we cannot refund the second payment: both charges were for different workspaces.",
    "February's invoice has not been generated yet; it will be emailed to you next week.",
    "We can't change the card on file from here; please contact your bank to update it.",
    "Invoice INV-20931 cannot be changed once issued, so the VAT ID cannot be added to it.",
    "Yearly plans can't be cancelled before the end of the term, and unused months are not refunded.",
    "The 503 errors come from your own proxy, not from our API; please check your network settings.",
    "We could not reproduce the crash in the mobile app, so please send us a screen recording.",
    "Webhooks are failing because your endpoint rejects our requests; please check your server logs.",
    "Data sync is disabled on the free plan; upgrade to Pro to sync the desktop app.",
    "Pages are slow because your browser extension blocks our scripts; please disable it.",
    "We have no plans to add a dark mode, so I've closed the request.",
    "Weekly scheduled reports already exist: open Reports and choose Schedule.",
    "CSV export from the dashboard is already available under the Export button.",
    "We can't reset your password by email; please contact your workspace admin instead.",
    "We can't turn off two-factor authentication for you; use one of your backup codes to sign in.",
    "Your account was suspended for unpaid invoices, and it stays locked until the balance is paid.",
    "SSO sign-in fails because SSO is not included in your plan; upgrade to Enterprise to use it.",
    "The login email can only be changed by the account owner, so I couldn't change it.",
    "Sorry you dislike the new logo; I'll pass your complaint to the design team.",
    "We're not hiring in Lisbon at the moment, but you can join our talent newsletter.",
]
SHIFT = 7  # an unrelated pair: reply i against the paraphrase of reply i + SHIFT (another issue, same domain)


def pairs() -> dict[str, list[tuple[str, str]]]:
    """Pairs by class, 20 each: paraphrases, unrelated (another issue), contradictions (same issue, other content)."""
    return {
        "paraphrase": list(REPLIES),
        "unrelated": [(REPLIES[i][0], REPLIES[(i + SHIFT) % len(REPLIES)][1]) for i in range(len(REPLIES))],
        "contradiction": [(reply, other) for (reply, _), other in zip(REPLIES, CONTRADICTIONS)],
    }


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """The share of (positive, negative) pairs where the positive scores higher (ties count half)."""
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(positives, negatives))
    return wins / (len(positives) * len(negatives))


def best_threshold(positives: Sequence[float], negatives: Sequence[float]) -> tuple[float, float]:
    """The threshold (``similarity >= t`` passes) with the highest accuracy on both classes, and that accuracy."""
    candidates = sorted({*positives, *negatives})
    best = (0.0, 0.0)
    for threshold in candidates:
        right = sum(p >= threshold for p in positives) + sum(n < threshold for n in negatives)
        accuracy = right / (len(positives) + len(negatives))
        if accuracy > best[1]:
            best = (threshold, accuracy)
    return best


def measure(name: str, embed: Callable[[Sequence[str]], list[list[float]]], load_s: float) -> None:
    """Print one embedder's figures: each class's mean, and how paraphrases separate from each other class."""
    classes = pairs()
    texts = [text for group in classes.values() for pair in group for text in pair]
    start = time.perf_counter()
    vectors = embed(texts)
    per_text = (time.perf_counter() - start) / len(texts)
    start = time.perf_counter()
    for text in texts[:10]:
        embed([text])
    one_by_one = (time.perf_counter() - start) / 10
    scores = iter(cosine(vectors[i], vectors[i + 1]) for i in range(0, len(vectors), 2))
    by_class = {label: [next(scores) for _ in group] for label, group in classes.items()}
    means = "  ".join(f"{label} {sum(s) / len(s):.3f}" for label, s in by_class.items())
    print(f"{name:<10} mean similarity: {means}")
    positives = by_class["paraphrase"]
    for label in ("unrelated", "contradiction"):
        negatives = by_class[label]
        threshold, accuracy = best_threshold(positives, negatives)
        gap = sum(positives) / len(positives) - sum(negatives) / len(negatives)
        both = [*positives, *negatives]
        spread = math.sqrt(sum((s - sum(both) / len(both)) ** 2 for s in both) / len(both))
        print(
            f"{'':<10} paraphrase vs {label:<13} gap {gap:.3f} (gap/sd {gap / spread:.2f})  "
            f"AUC {auc(positives, negatives):.3f}  best min {threshold:.3f} -> accuracy {accuracy:.3f}  "
            f"(paraphrase min {min(positives):.3f}, {label} max {max(negatives):.3f})"
        )
    print(f"{'':<10} load {load_s:.2f} s  {per_text * 1000:.1f} ms/text batched, {one_by_one * 1000:.1f} ms/text alone")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", help="an OpenAI-compatible base URL serving /v1/embeddings")
    parser.add_argument("--model", default="any", help="the model name to send to --server")
    args = parser.parse_args()
    print(", ".join(f"{len(group)} {label} pairs" for label, group in pairs().items()))
    for name in LOCAL_EMBEDDERS:
        start = time.perf_counter()
        embedder = local_embedder(name)
        embedder.embed(["warm up"])
        measure(name, embedder.embed, time.perf_counter() - start)
    if args.server:
        from pytest_llmgate.backends.embedders import OpenAIEmbedder
        from pytest_llmgate.backends.spec import BackendSpec

        spec = BackendSpec(
            name="server", provider="openai", model=args.model, config_path=Path("x"), base_url=args.server
        )
        start = time.perf_counter()
        remote = OpenAIEmbedder(spec)
        remote.embed(["warm up"])
        measure("server", remote.embed, time.perf_counter() - start)


if __name__ == "__main__":
    main()
