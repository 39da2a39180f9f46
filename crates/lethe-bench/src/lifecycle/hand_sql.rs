//! The hand-written SQL for trash, restore and purge of the picked contacts: the statements
//! of one transaction, set-based, over all members or over one id range of them.

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Op {
    Trash,
    Restore,
    Purge,
}

/// What a statement's row count means.
pub(super) enum Tally {
    Changed(&'static str),
    Rewritten(&'static str),
    Nothing,
}

/// The cascade children of a contact, linked by `contact_id`.
pub(crate) const CONTACT_CHILDREN: [&str; 6] = [
    "consent",
    "activity",
    "note",
    "message",
    "ticket",
    "campaign_membership",
];
/// The cascade children of a ticket, linked by `ticket_id`.
pub(crate) const TICKET_CHILDREN: [&str; 2] = ["ticket_comment", "survey_rating"];
/// Children that restrict deleting a contact.
pub(crate) const RESTRICTS: [&str; 4] = ["deal", "project", "invoice", "time_entry"];

pub(super) struct HandSql {
    pub(super) batch: i64,
    pub(super) now: String,
}

impl HandSql {
    /// The statements of one transaction; with `ranged`, `$1 < contact id <= $2`.
    pub(super) fn statements(&self, op: Op, ranged: bool, postgres: bool) -> Vec<(Tally, String)> {
        let b = self.batch;
        let range = |column: &str| {
            if ranged {
                format!(" AND {column} > $1 AND {column} <= $2")
            } else {
                String::new()
            }
        };
        let set = format!(
            "trash_batch_id = {b}, trashed_at = '{}', trashed_by = NULL",
            self.now
        );
        // In batches, the batch test must not steer the planner to the trash index (which
        // would walk the whole deletion batch for every range: quadratic on PostgreSQL); the
        // id range finds the rows, as in Lethe's own batches. On PostgreSQL not in one
        // transaction either: its statistics, taken before anything was trashed, put one row
        // in a deletion batch, and the plan then rescans the batch's contacts for each of its
        // tickets (measured: minutes for one statement, against a hash join).
        let batch_test = if ranged || postgres {
            "trash_batch_id + 0"
        } else {
            "trash_batch_id"
        };
        let clear = "trash_batch_id = NULL, trashed_at = NULL, trashed_by = NULL";
        let mut out = Vec::new();
        match op {
            Op::Trash => {
                let unblocked: String = RESTRICTS
                    .iter()
                    .map(|table| {
                        format!(
                            " AND NOT EXISTS (SELECT 1 FROM {table} x WHERE x.contact_id = contact.id AND x.trash_batch_id IS NULL)"
                        )
                    })
                    .collect();
                out.push((
                    Tally::Changed("contact"),
                    format!(
                        "UPDATE contact SET {set} WHERE trash_batch_id IS NULL AND id IN (SELECT id FROM bench_member WHERE 1 = 1{}){unblocked}",
                        range("id")
                    ),
                ));
                let contacts = format!(
                    "SELECT id FROM contact WHERE {batch_test} = {b}{}",
                    range("id")
                );
                for table in CONTACT_CHILDREN {
                    out.push((
                        Tally::Changed(table),
                        format!("UPDATE {table} SET {set} WHERE trash_batch_id IS NULL AND contact_id IN ({contacts})"),
                    ));
                }
                let tickets = format!(
                    "SELECT id FROM ticket WHERE {batch_test} = {b} AND contact_id IN ({contacts})"
                );
                for table in TICKET_CHILDREN {
                    out.push((
                        Tally::Changed(table),
                        format!("UPDATE {table} SET {set} WHERE trash_batch_id IS NULL AND ticket_id IN ({tickets})"),
                    ));
                }
                out.push((
                    Tally::Changed("attachment"),
                    format!("UPDATE attachment SET {set} WHERE trash_batch_id IS NULL AND owner_entity = 'contact' AND owner_id IN ({contacts})"),
                ));
                out.push((
                    Tally::Changed("attachment"),
                    format!("UPDATE attachment SET {set} WHERE trash_batch_id IS NULL AND owner_entity = 'ticket' AND owner_id IN ({tickets})"),
                ));
            }
            Op::Restore if !ranged => {
                for table in std::iter::once("contact")
                    .chain(CONTACT_CHILDREN)
                    .chain(TICKET_CHILDREN)
                    .chain(["attachment"])
                {
                    out.push((
                        Tally::Changed(table),
                        format!("UPDATE {table} SET {clear} WHERE trash_batch_id = {b}"),
                    ));
                }
            }
            Op::Restore => {
                // Children first: they are found through parents still in the batch.
                let contacts = format!(
                    "SELECT id FROM contact WHERE {batch_test} = {b}{}",
                    range("id")
                );
                let tickets = format!(
                    "SELECT id FROM ticket WHERE {batch_test} = {b} AND contact_id IN ({contacts})"
                );
                for table in TICKET_CHILDREN {
                    out.push((
                        Tally::Changed(table),
                        format!("UPDATE {table} SET {clear} WHERE {batch_test} = {b} AND ticket_id IN ({tickets})"),
                    ));
                }
                out.push((
                    Tally::Changed("attachment"),
                    format!("UPDATE attachment SET {clear} WHERE {batch_test} = {b} AND owner_entity = 'ticket' AND owner_id IN ({tickets})"),
                ));
                out.push((
                    Tally::Changed("attachment"),
                    format!("UPDATE attachment SET {clear} WHERE {batch_test} = {b} AND owner_entity = 'contact' AND owner_id IN ({contacts})"),
                ));
                for table in CONTACT_CHILDREN {
                    out.push((
                        Tally::Changed(table),
                        format!("UPDATE {table} SET {clear} WHERE {batch_test} = {b} AND contact_id IN ({contacts})"),
                    ));
                }
                out.push((
                    Tally::Changed("contact"),
                    format!(
                        "UPDATE contact SET {clear} WHERE {batch_test} = {b}{}",
                        range("id")
                    ),
                ));
            }
            Op::Purge => {
                let unblocked: String = RESTRICTS
                    .iter()
                    .map(|table| {
                        format!(
                            " AND NOT EXISTS (SELECT 1 FROM {table} x WHERE x.contact_id = c.id)"
                        )
                    })
                    .collect();
                out.push((Tally::Nothing, "DELETE FROM bench_erased".to_owned()));
                out.push((
                    Tally::Nothing,
                    format!(
                        "INSERT INTO bench_erased (id) SELECT c.id FROM contact c WHERE c.{batch_test} = {b} \
                         AND c.id IN (SELECT id FROM bench_member WHERE 1 = 1{}){unblocked} \
                         AND NOT EXISTS (SELECT 1 FROM activity a WHERE a.contact_id = c.id AND a.kind = 'task' AND a.status NOT IN ('removed', 'verified'))",
                        range("id")
                    ),
                ));
                if postgres && !ranged {
                    out.push((Tally::Nothing, "ANALYZE bench_erased".to_owned()));
                }
                let erased = "SELECT id FROM bench_erased";
                let placeholder = lethe_store::PLACEHOLDER_ID;
                out.push((
                    Tally::Rewritten("ticket_comment"),
                    format!("UPDATE ticket_comment SET contact_id = {placeholder}, body = '[comment by a deleted user]' WHERE contact_id IN ({erased})"),
                ));
                out.push((
                    Tally::Rewritten("survey_rating"),
                    format!("UPDATE survey_rating SET contact_id = {placeholder}, comment = NULL WHERE contact_id IN ({erased})"),
                ));
                let tickets = format!("SELECT id FROM ticket WHERE contact_id IN ({erased})");
                out.push((
                    Tally::Changed("attachment"),
                    format!("DELETE FROM attachment WHERE owner_entity = 'ticket' AND owner_id IN ({tickets})"),
                ));
                for table in TICKET_CHILDREN {
                    out.push((
                        Tally::Changed(table),
                        format!("DELETE FROM {table} WHERE ticket_id IN ({tickets})"),
                    ));
                }
                out.push((
                    Tally::Changed("attachment"),
                    format!("DELETE FROM attachment WHERE owner_entity = 'contact' AND owner_id IN ({erased})"),
                ));
                for table in CONTACT_CHILDREN.iter().rev() {
                    out.push((
                        Tally::Changed(table),
                        format!("DELETE FROM {table} WHERE contact_id IN ({erased})"),
                    ));
                }
                out.push((
                    Tally::Changed("contact"),
                    format!("DELETE FROM contact WHERE id IN ({erased})"),
                ));
            }
        }
        out
    }
}
