//! file-search: find text, read files and list folders in the workspace.
//!
//! Capability: read access to `$WORKSPACE`, which the skill sees at `/workspace`.
//! Paths given by the model are relative to the workspace (absolute `/workspace/...`
//! paths work too); paths in results are relative to it.

use std::fs;
use std::path::{Path, PathBuf};

use chitin_sdk::{JsonSchema, Skill, ToolError, Tools};
use serde::{Deserialize, Serialize};

struct FileSearch;

impl Skill for FileSearch {
    fn tools() -> Tools {
        Tools::new()
            .tool(
                "search",
                "Search the files of the workspace for a text (plain text, not a regular \
                 expression). Returns matching lines with their file and line number.",
                search,
            )
            .tool(
                "read",
                "Read a text file of the workspace, or a range of its lines.",
                read,
            )
            .tool(
                "list",
                "List a folder of the workspace (or the whole tree below it).",
                list,
            )
    }
}

chitin_sdk::export_skill!(FileSearch);

/// Folders never searched or listed recursively.
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "target",
    "__pycache__",
];
/// Files larger than this are not searched.
const MAX_SEARCHED_FILE: u64 = 4 << 20;
/// Stop a search after this many files.
const MAX_FILES: usize = 50_000;
/// Longest line text returned in a hit.
const MAX_LINE: usize = 300;
/// Most text returned by `read`.
const MAX_READ: usize = 256 << 10;

#[derive(Deserialize, JsonSchema)]
struct SearchArgs {
    /// Text to look for.
    pattern: String,
    /// Only files whose path matches this glob, e.g. `*.rs` (file name) or
    /// `src/**/*.md` (path from the workspace root).
    glob: Option<String>,
    /// Folder to search, relative to the workspace (default: all of it).
    path: Option<String>,
    /// Ignore case (default false).
    ignore_case: Option<bool>,
    /// Stop after this many matching lines (default 100, at most 1000).
    max_results: Option<usize>,
}

#[derive(Serialize, Debug, PartialEq)]
struct Hit {
    path: String,
    line: usize,
    text: String,
}

#[derive(Serialize, Debug)]
struct SearchResult {
    hits: Vec<Hit>,
    /// True when the search stopped at `max_results` (or the file limit).
    truncated: bool,
    files_searched: usize,
}

fn search(args: SearchArgs) -> Result<SearchResult, ToolError> {
    if args.pattern.is_empty() {
        return Err(ToolError::invalid_input("`pattern` is empty"));
    }
    let max = args.max_results.unwrap_or(100).clamp(1, 1000);
    let ignore_case = args.ignore_case.unwrap_or(false);
    let needle = if ignore_case {
        args.pattern.to_lowercase()
    } else {
        args.pattern.clone()
    };
    let filter = args.glob.as_deref().map(GlobFilter::new).transpose()?;
    let root = chitin_sdk::fs::resolve(args.path.as_deref().unwrap_or(""));

    let mut result = SearchResult {
        hits: Vec::new(),
        truncated: false,
        files_searched: 0,
    };
    let mut files = Vec::new();
    walk(&root, &mut files, MAX_FILES)?;
    if files.len() >= MAX_FILES {
        result.truncated = true;
    }
    for (path, size) in files {
        let shown = display(&path);
        if filter.as_ref().is_some_and(|f| !f.matches(&shown)) || size > MAX_SEARCHED_FILE {
            continue;
        }
        let Ok(bytes) = fs::read(&path) else { continue };
        if bytes[..bytes.len().min(8192)].contains(&0) {
            continue; // binary
        }
        result.files_searched += 1;
        let text = String::from_utf8_lossy(&bytes);
        for (i, line) in text.lines().enumerate() {
            let found = if ignore_case {
                line.to_lowercase().contains(&needle)
            } else {
                line.contains(&needle)
            };
            if !found {
                continue;
            }
            if result.hits.len() == max {
                result.truncated = true;
                return Ok(result);
            }
            result.hits.push(Hit {
                path: shown.clone(),
                line: i + 1,
                text: shorten(line.trim_end(), MAX_LINE),
            });
        }
    }
    Ok(result)
}

/// Collects the regular files under `root` (not following symlinks), in name order.
fn walk(root: &Path, files: &mut Vec<(PathBuf, u64)>, limit: usize) -> Result<(), ToolError> {
    let meta = fs::symlink_metadata(root).map_err(|e| io_error(e, root))?;
    if meta.is_file() {
        files.push((root.to_path_buf(), meta.len()));
        return Ok(());
    }
    let mut stack = vec![root.to_path_buf()];
    'walk: while let Some(dir) = stack.pop() {
        let entries = match read_dir_sorted(&dir) {
            Ok(entries) => entries,
            Err(e) if dir == root => return Err(e),
            Err(_) => continue, // unreadable sub-folder: skip it, search the rest
        };
        for (path, meta) in entries {
            if meta.is_dir() {
                if !is_skipped(&path) {
                    stack.push(path);
                }
            } else if meta.is_file() {
                if files.len() >= limit {
                    break 'walk;
                }
                files.push((path, meta.len()));
            }
        }
    }
    files.sort();
    Ok(())
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<(PathBuf, fs::Metadata)>, ToolError> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error(e, dir))? {
        let entry = entry.map_err(|e| io_error(e, dir))?;
        let path = entry.path();
        // `DirEntry::metadata` does not follow symlinks.
        if let Ok(meta) = entry.metadata() {
            entries.push((path, meta));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

fn is_skipped(dir: &Path) -> bool {
    dir.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| SKIPPED_DIRS.contains(&n))
}

#[derive(Deserialize, JsonSchema)]
struct ReadArgs {
    /// File path, relative to the workspace.
    path: String,
    /// First line to return, from 1 (default 1).
    start_line: Option<usize>,
    /// Most lines to return (default: all, up to 256 KiB of text).
    max_lines: Option<usize>,
}

#[derive(Serialize, Debug)]
struct ReadResult {
    path: String,
    content: String,
    /// Lines returned: `start_line..=end_line` (end_line is 0 for an empty file).
    start_line: usize,
    end_line: usize,
    total_lines: usize,
    /// True when lines after `end_line` were left out.
    truncated: bool,
}

fn read(args: ReadArgs) -> Result<ReadResult, ToolError> {
    let path = chitin_sdk::fs::resolve(&args.path);
    let bytes = fs::read(&path).map_err(|e| io_error(e, &path))?;
    let text = String::from_utf8_lossy(&bytes);
    let start = args.start_line.unwrap_or(1).max(1);
    let max_lines = args.max_lines.unwrap_or(usize::MAX).max(1);
    let total_lines = text.lines().count();
    let mut content = String::new();
    let mut end = start - 1;
    for line in text.lines().skip(start - 1).take(max_lines) {
        if content.len() + line.len() + 1 > MAX_READ && end >= start {
            break;
        }
        content.push_str(&shorten(line, MAX_READ));
        content.push('\n');
        end += 1;
    }
    Ok(ReadResult {
        path: display(&path),
        content,
        start_line: start,
        end_line: end,
        total_lines,
        truncated: end < total_lines,
    })
}

#[derive(Deserialize, JsonSchema)]
struct ListArgs {
    /// Folder, relative to the workspace (default: the workspace root).
    path: Option<String>,
    /// List the whole tree below the folder (default false). Skips .git, target,
    /// node_modules and similar folders.
    recursive: Option<bool>,
    /// Most entries to return (default 500, at most 5000).
    max_entries: Option<usize>,
}

#[derive(Serialize, Debug)]
struct Entry {
    path: String,
    /// `file`, `dir` or `symlink`.
    kind: &'static str,
    size: u64,
}

#[derive(Serialize, Debug)]
struct ListResult {
    entries: Vec<Entry>,
    truncated: bool,
}

fn list(args: ListArgs) -> Result<ListResult, ToolError> {
    let root = chitin_sdk::fs::resolve(args.path.as_deref().unwrap_or(""));
    let max = args.max_entries.unwrap_or(500).clamp(1, 5000);
    let recursive = args.recursive.unwrap_or(false);
    let mut result = ListResult {
        entries: Vec::new(),
        truncated: false,
    };
    // Depth-first, in name order: a folder's entries come right after it.
    let mut stack: Vec<(PathBuf, fs::Metadata)> = read_dir_sorted(&root)?;
    stack.reverse();
    while let Some((path, meta)) = stack.pop() {
        if result.entries.len() == max {
            result.truncated = true;
            break;
        }
        let kind = if meta.file_type().is_symlink() {
            "symlink"
        } else if meta.is_dir() {
            "dir"
        } else {
            "file"
        };
        if recursive && meta.is_dir() && !is_skipped(&path) {
            // An unreadable sub-folder is listed but not entered.
            if let Ok(children) = read_dir_sorted(&path) {
                stack.extend(children.into_iter().rev());
            }
        }
        result.entries.push(Entry {
            path: display(&path),
            kind,
            size: if meta.is_dir() { 0 } else { meta.len() },
        });
    }
    Ok(result)
}

/// A glob over file names (no `/` in it) or over paths from the workspace root.
struct GlobFilter {
    pattern: glob::Pattern,
    whole_path: bool,
}

impl GlobFilter {
    fn new(pattern: &str) -> Result<Self, ToolError> {
        let pattern = pattern.trim_start_matches("./");
        Ok(Self {
            pattern: glob::Pattern::new(pattern)
                .map_err(|e| ToolError::invalid_input(format!("glob {pattern:?}: {e}")))?,
            whole_path: pattern.contains('/'),
        })
    }

    fn matches(&self, shown: &str) -> bool {
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        let subject = if self.whole_path {
            shown
        } else {
            shown.rsplit('/').next().unwrap_or(shown)
        };
        self.pattern.matches_with(subject, options)
    }
}

/// A path as shown to the model: relative to the workspace when inside it.
fn display(path: &Path) -> String {
    match path.strip_prefix(chitin_sdk::fs::WORKSPACE) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}

fn io_error(e: std::io::Error, path: &Path) -> ToolError {
    let not_found = e.kind() == std::io::ErrorKind::NotFound;
    let err = ToolError::io(e, display(path));
    if not_found {
        // Outside the granted folder everything is "not found" too: give a hint.
        ToolError::failed(format!(
            "{} (paths are relative to the workspace root)",
            err.message()
        ))
    } else {
        err
    }
}

fn shorten(line: &str, max: usize) -> String {
    if line.len() <= max {
        return line.to_string();
    }
    let mut cut = max;
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &line[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_names_or_paths() {
        let names = GlobFilter::new("*.rs").unwrap();
        assert!(names.matches("src/lib.rs"));
        assert!(names.matches("main.rs"));
        assert!(!names.matches("src/lib.rs.orig"));
        let paths = GlobFilter::new("src/**/*.md").unwrap();
        assert!(paths.matches("src/a/b/x.md"));
        assert!(paths.matches("src/x.md"));
        assert!(!paths.matches("docs/x.md"));
        let shallow = GlobFilter::new("./src/*.rs").unwrap();
        assert!(shallow.matches("src/lib.rs"));
        assert!(!shallow.matches("src/a/lib.rs"));
        assert!(matches!(
            GlobFilter::new("[").err(),
            Some(ToolError::InvalidInput(_))
        ));
    }

    #[test]
    fn paths_are_shown_relative_to_the_workspace() {
        assert_eq!(display(Path::new("/workspace/src/lib.rs")), "src/lib.rs");
        assert_eq!(display(Path::new("/workspace")), ".");
        assert_eq!(display(Path::new("/etc/passwd")), "/etc/passwd");
    }

    #[test]
    fn long_lines_are_cut_on_char_boundaries() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("ééé", 3), "é…");
    }

    #[test]
    fn bad_arguments() {
        let tools = FileSearch::tools();
        let err = tools.invoke("search", r#"{"pattern": ""}"#).unwrap_err();
        assert_eq!(err, ToolError::invalid_input("`pattern` is empty"));
        let err = tools.invoke("search", "{}").unwrap_err();
        assert!(matches!(err, ToolError::InvalidInput(_)));
    }

    #[test]
    fn searches_reads_and_lists_a_real_tree() {
        // Natively there is no /workspace mount: use absolute paths.
        let dir = std::env::temp_dir().join(format!("chitin-file-search-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("src/deep")).unwrap();
        fs::create_dir_all(dir.join(".git")).unwrap();
        fs::write(dir.join("src/lib.rs"), "fn main() {}\n// TODO: more\n").unwrap();
        fs::write(dir.join("src/deep/notes.md"), "todo list\nnothing\n").unwrap();
        fs::write(dir.join(".git/config"), "TODO in git\n").unwrap();
        fs::write(dir.join("blob.bin"), b"TODO\0\x01").unwrap();
        let root = dir.to_str().unwrap().to_string();

        let found = search(SearchArgs {
            pattern: "todo".into(),
            glob: None,
            path: Some(root.clone()),
            ignore_case: Some(true),
            max_results: None,
        })
        .unwrap();
        let lines: Vec<_> = found
            .hits
            .iter()
            .map(|h| (h.path.rsplit('/').next().unwrap(), h.line))
            .collect();
        assert_eq!(lines, [("notes.md", 1), ("lib.rs", 2)]);
        assert_eq!(found.files_searched, 2);
        assert!(!found.truncated);

        let found = search(SearchArgs {
            pattern: "TODO".into(),
            glob: Some("*.md".into()),
            path: Some(root.clone()),
            ignore_case: None,
            max_results: Some(1),
        })
        .unwrap();
        assert!(found.hits.is_empty());

        let read = read(ReadArgs {
            path: format!("{root}/src/lib.rs"),
            start_line: Some(2),
            max_lines: Some(5),
        })
        .unwrap();
        assert_eq!(read.content, "// TODO: more\n");
        assert_eq!(
            (read.start_line, read.end_line, read.total_lines),
            (2, 2, 2)
        );
        assert!(!read.truncated);

        let listed = list(ListArgs {
            path: Some(root.clone()),
            recursive: Some(true),
            max_entries: None,
        })
        .unwrap();
        let names: Vec<_> = listed
            .entries
            .iter()
            .map(|e| e.path.strip_prefix(&root).unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "/.git",
                "/blob.bin",
                "/src",
                "/src/deep",
                "/src/deep/notes.md",
                "/src/lib.rs"
            ]
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
