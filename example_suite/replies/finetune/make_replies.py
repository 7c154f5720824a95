"""Generate the training pairs (ticket -> reply in the Acme Cloud voice) for the replies LoRA.

The voice is the rubric of ../llmgate.yaml: one or two calm sentences that apologise exactly once, name the
team that will act (billing, engineering, security, accounts or product) and promise no date, time or amount.
Tickets come from hand-written templates per issue with seeded slots (plans, months, invoice numbers, error
codes, devices, features) and a surface variation on some (lower case, a greeting, a sign-off, typos); each
reply is one of the issue's own reply templates. The eval cases (../*.llm.yaml) and the calibration answers
are written by hand and are not generated here; ``check_overlap.py`` keeps it so.

    python example_suite/replies/finetune/make_replies.py        # writes replies_train.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent

SLOTS: dict[str, list[str]] = {
    "plan": ["Starter", "Pro", "Team", "Business", "Enterprise"],
    "month": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"],
    "invoice": ["INV-20417", "INV-31188", "INV-40952", "INV-11873", "INV-56230", "INV-77014"],
    "amount": ["$19", "$49", "€25", "£12", "$240", "€89", "$120"],
    "code": ["500", "502", "503", "504", "429", "E-1042", "E-2210", "ERR_SYNC_17"],
    "device": ["iPhone", "Android phone", "iPad", "Windows laptop", "Mac", "Chromebook"],
    "browser": ["Chrome", "Firefox", "Safari", "Edge"],
    "area": ["dashboard", "file browser", "reports page", "project list", "settings page", "search"],
    "feature": ["dark mode", "a Gantt view", "custom fields", "bulk export to CSV", "recurring tasks", "offline mode"],
    "integration": ["Slack", "Jira", "Salesforce", "Zapier", "Microsoft Teams", "GitHub"],
    "country": ["Brazil", "Vietnam", "Romania", "Nigeria", "Peru", "Ukraine"],
    "idp": ["Okta", "Azure AD", "Google Workspace", "OneLogin"],
}

# issue: (team, ticket templates, reply templates). Replies never carry a date, a time or an amount.
ISSUES: dict[str, tuple[str, list[str], list[str]]] = {
    "double-charge": (
        "billing",
        [
            "I was billed twice for my {plan} plan in {month}.",
            "Two charges of {amount} showed up on my card for the same month.",
            "You took the {plan} subscription fee twice this {month}, please fix it.",
        ],
        [
            "Sorry about the double charge: our billing team will refund the duplicate payment.",
            "Sorry for charging you twice. Our billing team will reverse the extra payment and confirm by email.",
        ],
    ),
    "refund": (
        "billing",
        [
            "I want a refund for invoice {invoice}.",
            "Please refund the {amount} I paid for the {plan} plan, I never used it.",
            "Can I get my money back for {month}? We stopped using the product.",
        ],
        [
            "Sorry the plan didn't work out for you. Our billing team will review the refund and reply here.",
            "Sorry to hear that. Our billing team will look at your refund request and write back to you.",
        ],
    ),
    "invoice-fix": (
        "billing",
        [
            "Invoice {invoice} is missing our VAT number.",
            "The company name on invoice {invoice} is wrong.",
            "Our {month} invoice shows the old billing address.",
        ],
        [
            "Sorry about the mistake on your invoice: our billing team will send you a corrected copy.",
            "Sorry for the wrong details on the invoice. Our billing team will reissue it with the right ones.",
        ],
    ),
    "card-declined": (
        "billing",
        [
            "My card keeps getting declined when I try to renew the {plan} plan.",
            "Payment failed again for {month}, the card is fine though.",
            "Why does checkout reject my card for the {plan} upgrade?",
        ],
        [
            "Sorry the payment keeps failing. Our billing team will check what is blocking your card and email you.",
            "Sorry about the declined card: our billing team will look into the payment and get back to you.",
        ],
    ),
    "charged-after-cancel": (
        "billing",
        [
            "I cancelled in {month} but you charged me again.",
            "We closed our {plan} subscription and still got billed {amount}.",
        ],
        [
            "Sorry for charging you after you cancelled: our billing team will refund it and check the cancellation.",
            "Sorry about that charge. Our billing team will confirm your cancellation and return the payment.",
        ],
    ),
    "app-crash": (
        "engineering",
        [
            "The app crashes on my {device} whenever I open a project.",
            "Since the update the {device} app closes right after the splash screen.",
            "Your app keeps crashing when I upload a photo from my {device}.",
        ],
        [
            "Sorry about the crashes: our engineering team is looking into it and will update you here.",
            "Sorry the app keeps closing on you. Our engineering team will investigate the crash and follow up.",
        ],
    ),
    "server-error": (
        "engineering",
        [
            "I get error {code} when I open the {area}.",
            "The {area} shows a {code} error every time since this morning.",
            "Your API returns {code} on every request we send.",
        ],
        [
            "Sorry about the {code} errors: our engineering team is investigating and will keep you posted.",
            "Sorry for the trouble with the {area}. Our engineering team is on the error and will update this ticket.",
        ],
    ),
    "slow": (
        "engineering",
        [
            "The {area} takes forever to load in {browser}.",
            "Everything is really slow today, the {area} barely responds.",
        ],
        [
            "Sorry the {area} is so slow: our engineering team will look into the performance and update you.",
            "Sorry for the slowness. Our engineering team is checking the {area} and will report back here.",
        ],
    ),
    "sync": (
        "engineering",
        [
            "Files stopped syncing between my {device} and the web app.",
            "Sync is stuck with error {code} on my {device}.",
        ],
        [
            "Sorry your files aren't syncing: our engineering team will dig into it and follow up here.",
            "Sorry about the stuck sync. Our engineering team is looking into error {code} and will update you.",
        ],
    ),
    "integration-broken": (
        "engineering",
        [
            "The {integration} integration stopped posting updates.",
            "Our {integration} connection fails with error {code}.",
        ],
        [
            "Sorry the {integration} integration is failing: our engineering team will investigate and let you know.",
            "Sorry about the broken {integration} connection. Our engineering team is on it and will update you here.",
        ],
    ),
    "suspicious-login": (
        "security",
        [
            "Someone logged into my account from {country}, it wasn't me.",
            "I got an alert about a sign-in from {country} I don't recognise.",
            "There's a login from {country} in my activity log, help!",
        ],
        [
            "Sorry for the scare: our security team will review the sign-in and help you secure your account.",
            "Sorry about the unknown login. Our security team is checking your account activity and will contact you.",
        ],
    ),
    "phishing": (
        "security",
        [
            "I received an email asking for my Acme password, is it from you?",
            "Got a weird message claiming my account will be deleted unless I click a link.",
        ],
        [
            "Sorry you received that: it isn't from us, and our security team will look into the message.",
            "Sorry about the suspicious email. Our security team will investigate it; please don't click the link.",
        ],
    ),
    "leaked-key": (
        "security",
        [
            "I accidentally pushed our API key to a public {integration} repo.",
            "An API token of ours was posted in a public chat by mistake.",
        ],
        [
            "Sorry that happened: our security team will help you revoke the key and check for misuse.",
            "Sorry about the exposed token. Our security team will review its use and help you rotate it.",
        ],
    ),
    "locked-out": (
        "accounts",
        [
            "I'm locked out after too many password attempts.",
            "My account says it is locked and I can't sign in.",
            "cant get into my account, it keeps saying locked",
        ],
        [
            "Sorry you're locked out: our accounts team will help you get back in.",
            "Sorry about the lockout. Our accounts team will verify your identity and unlock your account.",
        ],
    ),
    "reset-email": (
        "accounts",
        [
            "The password reset email never arrives.",
            "I asked for a reset link three times and got nothing.",
        ],
        [
            "Sorry the reset email isn't reaching you: our accounts team will check your address and send a new link.",
            "Sorry about the missing reset link. Our accounts team will look into it and help you sign in.",
        ],
    ),
    "sso": (
        "accounts",
        [
            "Sign-in with {idp} fails for our whole team.",
            "{idp} login gives error {code} since yesterday.",
        ],
        [
            "Sorry your team can't sign in: our accounts team will check the {idp} setup and follow up.",
            "Sorry about the {idp} login errors. Our accounts team is looking into it and will update you here.",
        ],
    ),
    "change-owner": (
        "accounts",
        [
            "Our workspace owner left the company, how do we take over the account?",
            "Please move ownership of our {plan} workspace to my email.",
        ],
        [
            "Sorry for the hassle: our accounts team will verify the request and help move the ownership.",
            "Sorry this is getting in your way. Our accounts team will check the workspace and transfer ownership.",
        ],
    ),
    "lost-2fa": (
        "accounts",
        [
            "I lost my phone and can't pass two-factor authentication.",
            "My authenticator app was wiped, how do I log in now?",
        ],
        [
            "Sorry you've lost access to your codes: our accounts team will verify you and reset two-factor sign-in.",
            "Sorry about the lost device. Our accounts team will confirm your identity and help you sign in again.",
        ],
    ),
    "feature": (
        "product",
        [
            "Please add {feature}.",
            "Any plans for {feature}? We really need it.",
            "It would be great to have {feature} in the {area}.",
        ],
        [
            "Sorry we don't have {feature} yet: our product team will add your request to their list.",
            "Sorry that's missing today. I've passed your idea for {feature} to our product team.",
        ],
    ),
    "integration-request": (
        "product",
        [
            "Do you integrate with {integration}? If not, please build it.",
            "We'd switch our whole team if you supported {integration}.",
        ],
        [
            "Sorry we don't connect to {integration} yet: our product team will consider it for the roadmap.",
            "Sorry that integration isn't there yet. Our product team will look at {integration} support.",
        ],
    ),
    "limit": (
        "product",
        [
            "The upload limit on the {plan} plan is too small for our videos.",
            "We keep hitting the project limit, can you raise it?",
        ],
        [
            "Sorry the limit is getting in your way: our product team will review it with your use in mind.",
            "Sorry about the tight limit. I've shared your feedback with our product team.",
        ],
    ),
}

GREETINGS = ["Hi, ", "Hello, ", "Hey team, ", "Good morning. "]
SIGN_OFFS = [" Thanks.", " Thanks in advance!", " Regards, Dana", " Cheers"]


def _fill(template: str, slots: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: slots[m.group(1)], template)


def _surface(text: str, rng: random.Random) -> str:
    """A ticket as customers write it: sometimes a greeting, a sign-off, lower case without the full stop."""
    roll = rng.random()
    if roll < 0.2:
        text = rng.choice(GREETINGS) + text[0].lower() + text[1:]
    elif roll < 0.35:
        text = text + rng.choice(SIGN_OFFS)
    elif roll < 0.5:
        text = text.lower().rstrip(".")
    return text


def generate(per_issue: int, seed: int) -> list[dict[str, str]]:
    """``per_issue`` distinct (ticket, reply) pairs per issue, shuffled; the same seed gives the same list."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    for issue in sorted(ISSUES):
        team, tickets, replies = ISSUES[issue]
        seen: set[str] = set()
        for _ in range(per_issue * 50):
            if len(seen) >= per_issue:
                break
            slots = {name: rng.choice(values) for name, values in SLOTS.items()}
            ticket = _surface(_fill(rng.choice(tickets), slots), rng)
            if ticket.lower() in seen:
                continue
            seen.add(ticket.lower())
            rows.append({"text": ticket, "label": _fill(rng.choice(replies), slots), "issue": issue, "team": team})
    rng.shuffle(rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-issue", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "replies_train.jsonl")
    args = parser.parse_args(argv)
    rows = generate(args.per_issue, args.seed)
    with args.out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} pairs over {len(ISSUES)} issues to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
