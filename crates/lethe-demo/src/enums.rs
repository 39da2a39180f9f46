//! The enum values the demo writes, one Rust enum per schema enum field, so that generators
//! cannot produce a value the schema does not list (checked against the store's schema by
//! [`crate::tables::check_schema`] and against the default schema by the tests).

use lethe_store::Value;

use crate::tables::Kind;

/// Defines an enum of schema values with its text form and the list of every value.
macro_rules! schema_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum $name { $($variant),+ }

        impl $name {
            /// Every value, as the schema spells it.
            pub(crate) const NAMES: &'static [&'static str] = &[$($text),+];

            pub(crate) fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub(crate) fn value(self) -> Value {
                Value::Text(self.as_str().to_owned())
            }
        }
    };
}

schema_enum!(CompanyCategory {
    Prospect => "prospect",
    Customer => "customer",
    Lost => "lost",
    Partner => "partner",
});

schema_enum!(ContactCategory { Prospect => "prospect", Customer => "customer", Lost => "lost" });

schema_enum!(LegalBasis {
    Consent => "consent",
    Contract => "contract",
    LegitimateInterest => "legitimate_interest",
    None => "none",
});

schema_enum!(ConsentPurpose {
    Marketing => "marketing",
    Newsletter => "newsletter",
    Support => "support",
    Profiling => "profiling",
    ThirdParty => "third_party",
});

schema_enum!(DealStatus { Open => "open", Won => "won", Lost => "lost" });

schema_enum!(ProjectStatus {
    Planned => "planned",
    Active => "active",
    Done => "done",
    Cancelled => "cancelled",
});

schema_enum!(ActivityKind {
    Task => "task",
    Appointment => "appointment",
    Call => "call",
    Email => "email",
    ManualAction => "manual_action",
});

schema_enum!(ActivityStatus { Open => "open", Done => "done", Removed => "removed", Verified => "verified" });

schema_enum!(MessageChannel {
    Email => "email",
    Sms => "sms",
    Chat => "chat",
    Whatsapp => "whatsapp",
    Phone => "phone",
});

schema_enum!(MessageDirection { Inbound => "inbound", Outbound => "outbound" });

schema_enum!(TicketStatus { Open => "open", Pending => "pending", Solved => "solved", Closed => "closed" });

schema_enum!(
    /// The entities an attachment may belong to (the `owner_entity` column).
    AttachmentOwner {
        Company => "company",
        Contact => "contact",
        Deal => "deal",
        Project => "project",
        Ticket => "ticket",
        Invoice => "invoice",
    }
);

/// Every value the demo may write into an enum (or owner entity) column, or `None` when the
/// column is not one.
pub(crate) fn generated_values(kind: Kind, column: &str) -> Option<&'static [&'static str]> {
    let values = match (kind, column) {
        (Kind::Company, "category") => CompanyCategory::NAMES,
        (Kind::Contact, "category") => ContactCategory::NAMES,
        (Kind::Contact, "legal_basis") => LegalBasis::NAMES,
        (Kind::Consent, "purpose") => ConsentPurpose::NAMES,
        (Kind::Deal, "status") => DealStatus::NAMES,
        (Kind::Project, "status") => ProjectStatus::NAMES,
        (Kind::Activity, "kind") => ActivityKind::NAMES,
        (Kind::Activity, "status") => ActivityStatus::NAMES,
        (Kind::Message, "channel") => MessageChannel::NAMES,
        (Kind::Message, "direction") => MessageDirection::NAMES,
        (Kind::Ticket, "status") => TicketStatus::NAMES,
        (Kind::Attachment, "owner_entity") => AttachmentOwner::NAMES,
        _ => return None,
    };
    Some(values)
}
