//! The grammar of `lethe person`: everything held about one person (GDPR Art. 15).

use clap::{ArgGroup, Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum PersonCommand {
    /// Write everything held about a person into one zip (admins): their contact records,
    /// every record that points at them through any relation — in the trash too — as a JSON
    /// document per entity, their attachment files, and a README.txt a person can read.
    Export {
        #[command(flatten)]
        who: Who,
        /// Write the zip to this file (made whole or not at all); without it, standard
        /// output when it is not a terminal.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// What is held about a person, counted per entity, without exporting it (admins): also
    /// what erasing them would reach.
    Show {
        #[command(flatten)]
        who: Who,
    },
}

/// Who the person is.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("person").required(true).args(["email", "contact"])))]
pub struct Who {
    /// Every contact with this e-mail address (ignoring case).
    #[arg(long)]
    pub email: Option<String>,
    /// This contact.
    #[arg(long)]
    pub contact: Option<i64>,
}
