//! {{name}}: a chitin skill. `chitin skill build` compiles it; `cargo test` tests its
//! tools natively. Guide: skills-sdk/README.md in the chitin repository.

use chitin_sdk::{JsonSchema, Skill, ToolError, Tools};
use serde::Deserialize;

#[derive(Deserialize, JsonSchema)]
struct HelloArgs {
    /// Who to greet
    name: String,
}

fn hello(args: HelloArgs) -> Result<String, ToolError> {
    if args.name.trim().is_empty() {
        return Err(ToolError::invalid_input("`name` is empty"));
    }
    Ok(format!("Hello, {}!", args.name.trim()))
}

#[derive(Deserialize, JsonSchema)]
struct PathArgs {
    /// A file in the workspace, e.g. `notes.md`
    path: String,
}

fn line_count(args: PathArgs) -> Result<usize, ToolError> {
    // `$WORKSPACE` is mounted at /workspace; relative paths are taken from there.
    let path = chitin_sdk::fs::resolve(&args.path);
    let text = std::fs::read_to_string(&path).map_err(|e| ToolError::io(e, path.display()))?;
    Ok(text.lines().count())
}

struct ThisSkill;

impl Skill for ThisSkill {
    fn tools() -> Tools {
        Tools::new()
            .tool("hello", "Greet someone by name", hello)
            .tool("line_count", "Count the lines of a file in the workspace", line_count)
    }
}

chitin_sdk::export_skill!(ThisSkill);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_greets_and_refuses_empty_names() {
        let tools = ThisSkill::tools();
        assert_eq!(tools.invoke("hello", r#"{"name":"Ada"}"#).unwrap(), r#""Hello, Ada!""#);
        let err = tools.invoke("hello", r#"{"name":" "}"#).unwrap_err();
        assert!(matches!(err, ToolError::InvalidInput(_)), "{err:?}");
    }
}
