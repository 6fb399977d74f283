//! Compaction: before the conversation outgrows the model's context window, the older
//! turns are summarised by the model into a `Compaction` event. The latest turns stay
//! verbatim, a tool call and its result are never split (the cut is always before a
//! user message), and nothing is deleted: the summary only stands in for the events
//! it covers when the context is built (`session::context`).

use crate::message::{ChatRequest, Message, ToolChoice};
use crate::provider::{Provider, ProviderError};
use crate::session::{Event, StoredEvent, context};

const INSTRUCTION: &str = "Summarise the conversation so far for your own later use: the \
user's goals, what was done with which tools and what came of it, facts and names that \
matter, and what is still open. Be concise. Do not call tools.";

/// Where to cut: the seq of the last event the summary will cover, or `None` when
/// there is only one turn. `keep_tokens` is how much of the newest conversation stays
/// verbatim: whole turns, at least the latest, never the oldest (compaction was
/// needed, so something goes).
pub fn cut_point(events: &[StoredEvent], keep_tokens: usize) -> Option<i64> {
    let after = events
        .iter()
        .rev()
        .find_map(|e| match e.event {
            Event::Compaction { through, .. } => Some(through),
            _ => None,
        })
        .unwrap_or(0);
    let live: Vec<&StoredEvent> = events.iter().filter(|e| e.seq > after).collect();
    // Candidate cuts: just before each user message but the first.
    let user_positions: Vec<usize> = live
        .iter()
        .enumerate()
        .filter(|(i, e)| *i > 0 && matches!(e.event, Event::User { .. }))
        .map(|(i, _)| i)
        .collect();
    let mut kept = 0usize;
    let mut cut = None;
    // Walk back from the newest; keep whole turns while they fit the budget.
    let mut end = live.len();
    for &pos in user_positions.iter().rev() {
        let turn_tokens: usize = live[pos..end].iter().map(|e| event_tokens(&e.event)).sum();
        if cut.is_some() && kept + turn_tokens > keep_tokens {
            break;
        }
        kept += turn_tokens;
        cut = Some(pos);
        end = pos;
    }
    cut.map(|pos| live[pos - 1].seq)
}

fn event_tokens(e: &Event) -> usize {
    use crate::message::estimate_tokens;
    match e {
        Event::User { content } => estimate_tokens(content) + 4,
        Event::Assistant {
            content,
            tool_calls,
            reasoning,
            ..
        } => {
            estimate_tokens(content)
                + reasoning.as_deref().map_or(0, estimate_tokens)
                + tool_calls
                    .iter()
                    .map(|c| estimate_tokens(&c.arguments) + 8)
                    .sum::<usize>()
        }
        Event::ToolResult { content, .. } => estimate_tokens(content) + 8,
        Event::Compaction { summary, .. } => estimate_tokens(summary),
        Event::Notice { .. } => 0,
    }
}

/// Ask the model for a summary of everything up to `through` (with the previous
/// summary, if any, standing in for what it covered).
pub async fn summarise(
    provider: &dyn Provider,
    system: &str,
    events: &[StoredEvent],
    through: i64,
) -> Result<String, ProviderError> {
    let covered: Vec<StoredEvent> = events
        .iter()
        .filter(|e| e.seq <= through)
        .cloned()
        .collect();
    let mut messages = context(&covered);
    messages.push(Message::User {
        content: INSTRUCTION.into(),
    });
    let request = ChatRequest {
        system: system.to_string(),
        messages,
        tools: vec![],
        tool_choice: ToolChoice::None,
        stream: false,
    };
    let reply = provider.chat(&request, &mut |_| {}).await?;
    Ok(reply.content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ToolCall;

    fn stored(seq: i64, event: Event) -> StoredEvent {
        StoredEvent {
            seq,
            time: String::new(),
            event,
        }
    }

    fn turn(first_seq: i64, words: usize) -> Vec<StoredEvent> {
        let text = "word ".repeat(words);
        vec![
            stored(
                first_seq,
                Event::User {
                    content: text.clone(),
                },
            ),
            stored(
                first_seq + 1,
                Event::Assistant {
                    content: String::new(),
                    tool_calls: vec![ToolCall {
                        id: format!("c{first_seq}"),
                        name: "s__t".into(),
                        arguments: "{}".into(),
                    }],
                    reasoning: None,
                    model: String::new(),
                },
            ),
            stored(
                first_seq + 2,
                Event::ToolResult {
                    call_id: format!("c{first_seq}"),
                    name: "s__t".into(),
                    content: text.clone(),
                    is_error: false,
                    elapsed_ms: 0.0,
                },
            ),
            stored(
                first_seq + 3,
                Event::Assistant {
                    content: text,
                    tool_calls: vec![],
                    reasoning: None,
                    model: String::new(),
                },
            ),
        ]
    }

    #[test]
    fn cuts_before_a_user_message_and_keeps_the_newest_turns() {
        // Four turns of about 1,500 tokens each.
        let events: Vec<StoredEvent> = (0..4).flat_map(|i| turn(i * 4 + 1, 400)).collect();
        let cases = [
            // budget → last seq covered by the summary
            (0, Some(12)),    // keep only the latest turn
            (3_100, Some(8)), // two turns fit
            // All would fit, but compaction was asked for: the oldest turn goes.
            (100_000, Some(4)),
        ];
        for (budget, expected) in cases {
            let cut = cut_point(&events, budget);
            assert_eq!(cut, expected, "budget {budget}");
            if let Some(through) = cut {
                // The next event is a user message: no call is split from its result.
                let next = events.iter().find(|e| e.seq == through + 1).unwrap();
                assert!(matches!(next.event, Event::User { .. }));
            }
        }
    }

    #[test]
    fn a_later_compaction_starts_after_the_previous_one() {
        let mut events: Vec<StoredEvent> = (0..3).flat_map(|i| turn(i * 4 + 1, 400)).collect();
        events.push(stored(
            13,
            Event::Compaction {
                summary: "s".into(),
                through: 8,
            },
        ));
        events.extend(turn(14, 400));
        // Live after the compaction: turn 9..12 and turn 14..17; keep the newest.
        assert_eq!(cut_point(&events, 0), Some(13));
        // A single live turn cannot be compacted further.
        let only: Vec<StoredEvent> = turn(1, 400);
        assert_eq!(cut_point(&only, 0), None);
    }
}
