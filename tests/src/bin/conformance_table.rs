//! `conformance_table FILE...`: reads the per-row reports the spec conformance tests
//! append (`KMSBRIDGE_CONFORMANCE_REPORT=FILE`, lines `target section row code
//! pass|fail|notrun`) and writes to stdout one markdown table of the sections (cases,
//! rows passed on the software instance, the hardware instance and SoftHSM2 direct,
//! whether hardware and software answer the same code on every row, whether both pass
//! every row SoftHSM2 direct passes), then the rows where they differ.

use kmsbridge_tests::conformance::spec::SECTIONS;
use std::collections::BTreeMap;
use std::process::ExitCode;

const SOFTWARE: &str = "kmsbridge-software";
const HARDWARE: &str = "kmsbridge";
const DIRECT: &str = "softhsm2";

/// One row's answer on one target.
struct Answer {
    code: String,
    verdict: String,
}

/// section -> row -> target -> answer.
type Runs = BTreeMap<String, BTreeMap<String, BTreeMap<String, Answer>>>;

fn read(paths: &[String]) -> Result<Runs, String> {
    let mut runs = Runs::new();
    for p in paths {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"))?;
        for (n, line) in text.lines().enumerate() {
            let f: Vec<&str> = line.split('\t').collect();
            let [target, section, row, code, verdict] = f[..] else {
                return Err(format!("{p}:{}: not `target section row code verdict`", n + 1));
            };
            let answer = Answer { code: code.to_string(), verdict: verdict.to_string() };
            runs.entry(section.to_string())
                .or_default()
                .entry(row.to_string())
                .or_default()
                .insert(target.to_string(), answer);
        }
    }
    Ok(runs)
}

fn passed(rows: &BTreeMap<String, BTreeMap<String, Answer>>, target: &str) -> String {
    let ran: Vec<&Answer> = rows.values().filter_map(|t| t.get(target)).collect();
    if ran.is_empty() {
        return "not run".into();
    }
    let pass = ran.iter().filter(|a| a.verdict == "pass").count();
    let notrun = ran.iter().filter(|a| a.verdict == "notrun").count();
    let mut s = format!("{pass}/{}", ran.len());
    if notrun > 0 {
        s.push_str(&format!(" ({notrun} not run)"));
    }
    s
}

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: conformance_table REPORT_FILE...");
        return ExitCode::from(2);
    }
    let runs = match read(&paths) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("conformance_table: {e}");
            return ExitCode::from(1);
        }
    };
    let title = |id: &str| SECTIONS.iter().find(|s| s.id == id).map_or("", |s| s.title);
    let order = |id: &str| SECTIONS.iter().position(|s| s.id == id).unwrap_or(usize::MAX);
    let mut sections: Vec<_> = runs.iter().collect();
    sections.sort_by_key(|(s, _)| order(s));
    println!(
        "| section | | cases | software | hardware | SoftHSM2 direct | hardware = software \
         | both pass all SoftHSM2 passes |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut differ = Vec::new();
    let mut below = Vec::new();
    let (mut cases, mut sw, mut hw, mut dir) = (0, 0, 0, 0);
    for (s, rows) in sections {
        let mut same = 0;
        let mut both = 0;
        let mut covers = true;
        for (id, t) in rows {
            let (h, w) = (t.get(HARDWARE), t.get(SOFTWARE));
            if let (Some(h), Some(w)) = (h, w) {
                both += 1;
                if h.code == w.code {
                    same += 1;
                } else {
                    differ.push(format!("{s} {id}: hardware {}, software {}", h.code, w.code));
                }
            }
            if t.get(DIRECT).is_some_and(|d| d.verdict == "pass") {
                let pass = |a: Option<&Answer>| a.is_none_or(|a| a.verdict == "pass");
                if !pass(h) || !pass(w) {
                    covers = false;
                    below.push(format!("{s} {id}: SoftHSM2 direct passes, an instance does not"));
                }
            }
        }
        let count = |target: &str| {
            rows.values().filter(|t| t.get(target).is_some_and(|a| a.verdict == "pass")).count()
        };
        cases += rows.len();
        sw += count(SOFTWARE);
        hw += count(HARDWARE);
        dir += count(DIRECT);
        let agree = if same == both { "yes".to_string() } else { format!("{same}/{both} rows") };
        println!(
            "| {s} | {} | {} | {} | {} | {} | {agree} | {} |",
            title(s),
            rows.len(),
            passed(rows, SOFTWARE),
            passed(rows, HARDWARE),
            passed(rows, DIRECT),
            if covers { "yes" } else { "no" }
        );
    }
    println!("| **all** | | **{cases}** | **{sw}** | **{hw}** | **{dir}** | | |");
    if !differ.is_empty() {
        println!("\nRows where the hardware and software instances answer different codes:\n");
        for d in &differ {
            println!("- {d}");
        }
    }
    if !below.is_empty() {
        println!("\nRows SoftHSM2 direct passes and an instance does not:\n");
        for b in &below {
            println!("- {b}");
        }
    }
    ExitCode::SUCCESS
}
