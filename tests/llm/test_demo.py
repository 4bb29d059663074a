"""The offline demo model: deterministic, uses the prompt, and labelled as demo in its response
(never inside the text a later step quotes or a workflow publishes)."""

from __future__ import annotations

import pytest

from engine.llm.base import LLMRequest
from engine.llm.demo import DemoProvider
from engine.llm.structured import build_json_schema, parse_answer
from engine.model import JsonOutputField

LABELS = ["billing", "bug", "how-to", "other"]
CLASSIFY = "Classify this support ticket as one of: billing, bug, how-to, other.\n\nTicket: "


def ask(prompt: str, system: str = "You are a helpful assistant.") -> str:
    request = LLMRequest(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": system}, {"role": "user", "content": prompt}],
    )
    return DemoProvider().complete(request).text


def classify(ticket: str) -> str:
    request = LLMRequest(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": CLASSIFY + ticket}],
        output_kind="classification",
        labels=LABELS,
        json_schema=build_json_schema("classification", LABELS, []),
    )
    text = DemoProvider().complete(request).text
    label: str = parse_answer("classification", LABELS, [], text)
    return label


def test_same_request_gets_the_same_answer() -> None:
    prompt = "Write a LinkedIn post about our new analytics dashboard for marketing managers."

    assert ask(prompt) == ask(prompt)


def test_response_is_marked_demo_with_rough_token_counts() -> None:
    request = LLMRequest(model="gpt-4o", messages=[{"role": "user", "content": "one two three"}])

    response = DemoProvider().complete(request)

    assert response.demo is True
    assert response.provider == "demo"
    assert response.prompt_tokens == 4  # 3 words x 1.3, rounded
    assert response.completion_tokens is not None and response.completion_tokens > 0
    assert response.latency_ms == 0.0
    assert DemoProvider().kind == "demo"


def test_social_post_uses_topic_and_audience() -> None:
    text = ask("Write a LinkedIn post about our new analytics dashboard for marketing managers.")

    assert text.startswith("Marketing managers, let's talk about our new analytics dashboard.")
    assert "[Demo" not in text  # the label lives in the response and the step record
    assert "our new analytics dashboard" in text
    assert "marketing managers" in text.lower()
    assert "#AnalyticsDashboard" in text
    assert len(text.split()) < 80


def test_email_reply_greets_and_signs_off_and_quotes_the_customer() -> None:
    text = ask(
        "Reply to this customer email:\n\n"
        "Hello, my export to CSV has been stuck for two days.\n\nThanks,\nAnna Schmidt"
    )

    assert text.startswith("Hi Anna,")
    assert "my export to CSV has been stuck" in text
    assert text.rstrip().endswith("Best regards,\nThe team")


def test_translation_keeps_the_source_text_and_says_so_in_the_record() -> None:
    request = LLMRequest(
        model="m",
        messages=[
            {
                "role": "user",
                "content": "Translate the following text into German:\n\nOur new dashboard is live.",
            }
        ],
    )
    response = DemoProvider().complete(request)

    assert response.text == "Our new dashboard is live."
    assert response.demo and "does not translate" in response.notes[0] and "German" in response.notes[0]


def test_revision_reflects_the_reviewer_note() -> None:
    prompt = (
        "Write a LinkedIn post about our new analytics dashboard for marketing managers.\n"
        "Reviewer feedback: mention the free trial"
    )

    text = ask(prompt)
    answer = DemoProvider().complete(LLMRequest(model="m", messages=[{"role": "user", "content": prompt}]))

    assert "[Demo" not in text and "Revised per" not in text and "reviewer" not in text.lower()
    assert "our new analytics dashboard" in text
    assert "Also worth mentioning: the free trial." in text
    # what the demo did with the note is in the step record, never in a text that may be published
    assert answer.notes == (
        "the offline demo model applied the reviewer's note “mention the free trial”: added “the free trial”",
    )


def test_revision_of_a_previous_draft_shortens_it_when_asked() -> None:
    draft = "First sentence here. Second sentence here. Third one. Fourth one."
    text = ask(f"Previous draft:\n{draft}\n\nReviewer feedback: make it shorter")

    assert "First sentence here. Second sentence here." in text
    assert "Third one" not in text


def test_empty_feedback_line_is_a_fresh_draft() -> None:
    text = ask("Write a tweet about our summer sale.\nReviewer feedback: ")

    assert "our summer sale" in text
    assert "#SummerSale" in text


@pytest.mark.parametrize(
    ("ticket", "label"),
    [
        ("I was charged twice this month and want a refund.", "billing"),
        ("My card payment went through but the invoice is wrong.", "billing"),
        ("The app crashes every time I open settings, it doesn't work at all.", "bug"),
        ("How do I set up single sign-on for my team?", "how-to"),
        ("Just wanted to say hello to the team.", "other"),
    ],
)
def test_classification_picks_the_best_matching_label(ticket: str, label: str) -> None:
    assert classify(ticket) == label


def test_classification_with_labels_listed_one_per_line() -> None:
    request = LLMRequest(
        model="m",
        messages=[
            {
                "role": "user",
                "content": "Labels:\n- billing\n- bug\n- how-to\n- other\n\nMy payment failed.",
            }
        ],
        output_kind="classification",
        labels=LABELS,
    )

    text = DemoProvider().complete(request).text

    assert parse_answer("classification", LABELS, [], text) == "billing"


def test_json_answer_fills_every_field_and_parses() -> None:
    fields = [
        JsonOutputField(name="title"),
        JsonOutputField(name="priority", type="number"),
        JsonOutputField(name="urgent", type="boolean"),
    ]
    request = LLMRequest(
        model="m",
        messages=[{"role": "user", "content": "Extract:\n\nUrgent: checkout is down since 9am!"}],
        output_kind="json",
        json_schema=build_json_schema("json", [], fields),
    )

    value = parse_answer("json", [], fields, DemoProvider().complete(request).text)

    assert set(value) == {"title", "priority", "urgent"}
    assert "[Demo" not in value["title"]
    assert "checkout is down" in value["title"]
    assert isinstance(value["priority"], float) and 1 <= value["priority"] <= 10
    assert value["urgent"] is True


def test_a_draft_saved_with_an_old_demo_tag_loses_it_and_labels_never_nest() -> None:
    text = ask("Translate this post into Spanish.\n\n[Demo output]\nBig news for our users.")
    assert text == "Big news for our users."

    post = ask(
        "Write a LinkedIn post about the draft below for marketing managers.\n\n"
        + ask("Write about our spring sale.")
    )
    assert "[Demo" not in post


def test_translation_sent_back_by_a_reviewer_is_a_revision() -> None:
    prompt = (
        "Translate this blog article into German.\n\nOur dashboard is live.\n\n"
        "Reviewer feedback on the previous version: mention the free trial"
    )

    text = ask(prompt)

    assert text.startswith("Our dashboard is live.")
    assert "Also worth mentioning: the free trial." in text


def test_customer_feedback_is_not_mistaken_for_reviewer_feedback() -> None:
    text = ask("Summarise this customer feedback.\n\nFeedback: The app is slow on Mondays.")

    assert "The app is slow on Mondays." in text


def test_reply_greets_the_named_recipient_and_mentions_the_subject() -> None:
    text = ask(
        'Write a reply to Anna Schmidt about their billing question "Charged twice". '
        "The customer's message follows.\n\nMy card was charged twice this month."
    )

    assert text.startswith("Hi Anna,\n")
    assert "\u201cCharged twice\u201d" in text
    assert "My card was charged twice this month." in text


def test_social_post_uses_the_key_message() -> None:
    text = ask(
        "Write a LinkedIn post about our new dashboard for marketing managers.\n"
        "Key message: See every campaign's ROI in one place\nKeep it under 80 words."
    )

    assert "See every campaign's ROI in one place." in text
    assert text.count("#") <= 2


def test_article_has_a_section_per_key_point() -> None:
    text = ask(
        "Write a blog article about onboarding checklists for customer success leads.\n\n"
        "Key points:\n- Faster time to value\n- Fewer tickets"
    )

    assert "# Onboarding checklists" in text
    assert "## Faster time to value" in text
    assert "## Fewer tickets" in text
    assert "customer success leads" in text


def test_the_demo_follows_the_guidance_lines_of_an_improved_instruction() -> None:
    base = "Write a LinkedIn post about the Spring sale for shoppers.\nKey message: Save 20% this week."
    plain = (
        DemoProvider().complete(LLMRequest(model="demo", messages=[{"role": "user", "content": base}])).text
    )
    assert "Tell us in the comments" in plain and "Shop now" not in plain
    guided = base + "\n\nReviewers' guidance:\n- Include “Shop now”.\n- Leave out “Tell us in the comments.”"
    text = (
        DemoProvider().complete(LLMRequest(model="demo", messages=[{"role": "user", "content": guided}])).text
    )
    assert text.endswith("\n\nShop now") and "Tell us in the comments" not in text
    assert text.replace("\n\nShop now", "") == plain.replace(" Tell us in the comments.", "")
