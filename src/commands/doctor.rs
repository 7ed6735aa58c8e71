//! `lethe doctor`: runs the checks and prints them as a table or JSON.

use crate::cli::DoctorArgs;
use crate::config::Config;
use crate::domain::doctor::{Finding, exit_code};
use crate::services::doctor;
use std::process::ExitCode;

pub fn doctor(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let config = Config::from_serve_args(args.serve)?;
    let findings = doctor::run(&config, chrono::Utc::now());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
    } else {
        print!("{}", table(&findings));
    }
    Ok(ExitCode::from(exit_code(&findings)))
}

/// Status, check and finding in columns; what to do on an indented line below, so that long
/// advice does not stretch the table.
fn table(findings: &[Finding]) -> String {
    let width = findings
        .iter()
        .map(|f| f.check.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!("{:<6} {:<width$}  FINDING\n", "STATUS", "CHECK");
    for f in findings {
        out.push_str(&format!(
            "{:<6} {:<width$}  {}\n",
            f.status.label().to_uppercase(),
            f.check,
            f.finding
        ));
        if !f.action.is_empty() {
            out.push_str(&format!("{:<6} {:<width$}  -> {}\n", "", "", f.action));
        }
    }
    out
}
