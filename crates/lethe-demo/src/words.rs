//! Small built-in word lists that the generators combine into names, addresses and texts.
//!
//! The lists are our own and deliberately short: a few dozen entries each are enough to make
//! a data set that looks like a Nordic CRM when combined, and they keep the binary small. The
//! invented company words may coincide with real businesses only by accident; every e-mail
//! domain and web site built from them ends in `.example` (RFC 2606), so nothing generated
//! here can reach a real mailbox.
//!
//! Lists of short words are marked `#[rustfmt::skip]` so that they stay packed, many to a line,
//! instead of growing to one word per line.

/// Given names. Several contain a doubled letter ("Anna", "Emma") so that the duplicate
/// generator can make the typical typo of dropping one ("Ana Berg").
#[rustfmt::skip]
pub(crate) const FIRST_NAMES: &[&str] = &[
    "Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Eva", "Anders", "Sofia", "Mikael", "Emma",
    "Per", "Ingrid", "Nils", "Elin", "Olof", "Sara", "Henrik", "Linnea", "Magnus", "Astrid",
    "Jonas", "Frida", "Gustav", "Maja", "Oskar", "Ida", "Viktor", "Hanna", "Axel", "Klara", "Emil",
    "Julia", "Lukas", "Alice", "Felix", "Ebba", "Hugo", "Wilma", "Leo", "Saga", "Elias", "Alva",
    "Noah", "Freja", "Isak", "Tilda", "Liam", "Nora", "Adam", "Ella", "Samuel", "Selma", "David",
    "Agnes", "Daniel", "Greta", "Martin", "Helena", "Thomas", "Kristina", "Peter", "Cecilia",
    "Fredrik", "Lena", "Stefan", "Birgitta", "Jan", "Marie", "Mats", "Ulla", "Hans", "Louise",
    "Robert", "Camilla", "Patrik", "Jenny", "Niklas", "Sanna", "Tobias", "Amira", "Omar", "Yasmin",
    "Ali", "Leila", "Hassan", "Mei", "Priya", "Arjun", "Sofie", "Mathias", "Hannah", "Marco",
    "Giulia", "Pierre", "Claire", "Jakob", "Lea", "Paul", "Mia", "Finn", "Lotta", "Rasmus",
    "Sigrid", "Ola", "Kari", "Aino", "Juho", "Eino", "Tuuli", "Katarzyna", "Piotr", "Olga",
    "Fatima", "Ahmed", "Nadia", "Carlos", "Lucia", "Diego", "Mattias", "Josefin", "Kalle", "Britt",
];

/// Family names.
#[rustfmt::skip]
pub(crate) const LAST_NAMES: &[&str] = &[
    "Berg", "Lindqvist", "Johansson", "Andersson", "Karlsson", "Nilsson", "Eriksson", "Larsson",
    "Olsson", "Persson", "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Jansson", "Hansson",
    "Bengtsson", "Lindberg", "Lindström", "Axelsson", "Holm", "Sandberg", "Forsberg", "Sjöberg",
    "Wallin", "Engström", "Eklund", "Danielsson", "Lundgren", "Lund", "Björk", "Strand", "Nyström",
    "Holmberg", "Ek", "Åberg", "Fransson", "Hedlund", "Mattsson", "Sundberg", "Hagen", "Dahl",
    "Bakken", "Haugen", "Nordby", "Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Laine", "Schmidt",
    "Weber", "Fischer", "Becker", "Hoffmann", "Meyer", "Novak", "Kowalski", "Nowak", "Jensen",
    "Nielsen", "Hansen", "Pedersen", "Christensen", "Smith", "Brown", "Taylor", "Wilson", "Walker",
    "Clarke", "Dubois", "Moreau", "Rossi", "Ricci", "García", "Fernández", "López", "Silva",
    "Santos", "Costa", "Khan", "Hussein", "Haddad", "Yilmaz", "Demir", "Kaya", "Wang", "Zhang",
    "Chen", "Kim", "Park", "Nguyen", "Tran", "Sato", "Tanaka", "Patel", "Sharma", "Singh", "Ivanov",
    "Petrov", "Öberg", "Blom", "Falk", "Lindgren", "Sjögren",
];

#[rustfmt::skip]
pub(crate) const JOB_TITLES: &[&str] = &[
    "CEO", "CFO", "CTO", "Head of Sales", "Sales Manager", "Account Manager", "Key Account Manager",
    "Purchasing Manager", "Buyer", "Office Manager", "Project Manager", "Product Owner",
    "Marketing Manager", "Marketing Coordinator", "HR Manager", "HR Partner", "IT Manager",
    "System Administrator", "Developer", "Designer", "Controller", "Accountant", "Consultant",
    "Senior Consultant", "Operations Manager", "Logistics Coordinator", "Warehouse Manager",
    "Customer Service Agent", "Support Lead", "Receptionist", "Partner", "Founder", "Board Member",
    "Engineer", "Site Manager", "Quality Manager", "Analyst", "Lawyer", "Communications Officer",
    "Assistant",
];

/// The first word of a company name. Invented, Nordic-sounding.
#[rustfmt::skip]
pub(crate) const COMPANY_STEMS: &[&str] = &[
    "Nordvik", "Alderbrook", "Brightwater", "Granfors", "Silverbay", "Blåfjord", "Lindholmen",
    "Ekdal", "Stenhaga", "Falkvik", "Havsbris", "Solberga", "Norrsken", "Tallmo", "Björkdal",
    "Kvarnbo", "Ljusnedal", "Fjällkant", "Strandbo", "Isberg", "Vindeln", "Röda Ladan", "Gråsten",
    "Måsvik", "Ugglebo", "Älvsnäs", "Kronhjort", "Lärkstad", "Sjöbris", "Ekorrbo", "Harkrank",
    "Tranholm", "Vitsippa", "Blåbär", "Kopparberg", "Järnmalm", "Stjärnfall", "Midnattsol",
    "Fyrtorn", "Ankarvik", "Ljungheden", "Rönnbacka", "Furulund", "Hjortö", "Ormbunke", "Lodjur",
    "Havsörn", "Sälvik", "Skärgård", "Trollberg", "Fjordlys", "Nordlys", "Skogsro", "Bergkrystall",
    "Kaarnikka", "Sinivuori", "Revontuli", "Ulvsund", "Tistel", "Tindra", "Valborg", "Oxhaga",
    "Brygghus", "Gyllenvik", "Klippan", "Snöstorm", "Vårdkase", "Solglimt", "Mörkvik", "Bäckebo",
    "Hagalund", "Västanvind", "Östanå", "Sunnanbo", "Nordstjärna", "Glimmer", "Kvartsit", "Basalt",
    "Porfyr", "Skiffer",
];

/// What a company does, the second word of its name.
#[rustfmt::skip]
pub(crate) const COMPANY_TRADES: &[&str] = &[
    "Bygg", "Logistik", "Consulting", "Software", "Design", "Media", "Engineering", "Foods",
    "Energy", "Solutions", "Health", "Fastigheter", "Transport", "Analytics", "Marine", "Textil",
    "Trä", "El", "Data", "Event", "Revision", "Advokatbyrå", "Arkitekter", "Print", "Systems",
    "Robotics", "Bioscience", "Retail", "Travel", "Outdoor", "Interiör", "Kafé", "Bageri",
    "Verkstad", "Måleri", "VVS", "Security", "Learning", "Finance", "Labs", "Redovisning",
    "Mekanik", "Städ", "Trädgård", "Optik", "Musik", "Film", "Spel",
];

/// An optional third part of a company name. The empty entry means "no qualifier"; together
/// with the stems and trades this gives about 100,000 distinct names before a number has to be
/// appended.
#[rustfmt::skip]
pub(crate) const COMPANY_QUALIFIERS: &[&str] = &[
    "", "Nord", "Syd", "Väst", "Öst", "Group", "Partners", "International", "Scandinavia", "& Co",
    "Stockholm", "Göteborg", "Malmö", "Uppsala", "Oslo", "Helsinki", "Europe", "Nordic", "Holding",
    "Team", "Center", "Service", "Norr", "Invest", "Studio", "Gruppen",
];

/// Legal forms, repeated to weigh them (Swedish companies dominate).
#[rustfmt::skip]
pub(crate) const LEGAL_FORMS: &[&str] = &[
    "AB", "AB", "AB", "AB", "AB", "AS", "AS", "Oy", "ApS", "GmbH", "Ltd", "HB", "",
];

/// Countries the demo's addresses are in, with the parts an address and a phone number need.
#[derive(Debug)]
pub(crate) struct Country {
    pub(crate) phone_prefix: &'static str,
    /// Digits in a postcode, and whether it is written with a space after the third digit
    /// ("114 51").
    pub(crate) postcode_digits: u32,
    pub(crate) postcode_space: bool,
    pub(crate) cities: &'static [&'static str],
    pub(crate) streets: &'static [&'static str],
}

pub(crate) const COUNTRIES: &[Country] = &[
    Country {
        phone_prefix: "+46",
        postcode_digits: 5,
        postcode_space: true,
        cities: &[
            "Stockholm",
            "Göteborg",
            "Malmö",
            "Uppsala",
            "Västerås",
            "Örebro",
            "Linköping",
            "Umeå",
            "Luleå",
            "Lund",
            "Jönköping",
            "Sundsvall",
            "Gävle",
            "Karlstad",
            "Växjö",
        ],
        streets: &[
            "Storgatan",
            "Kungsgatan",
            "Drottninggatan",
            "Hamngatan",
            "Järnvägsgatan",
            "Skolgatan",
            "Kyrkogatan",
            "Parkvägen",
            "Björkvägen",
            "Granvägen",
            "Industrivägen",
            "Strandvägen",
            "Ringvägen",
            "Nygatan",
            "Fabriksgatan",
            "Verkstadsgatan",
            "Sjövägen",
            "Ängsvägen",
            "Lärkvägen",
            "Torggatan",
        ],
    },
    Country {
        phone_prefix: "+47",
        postcode_digits: 4,
        postcode_space: false,
        cities: &[
            "Oslo",
            "Bergen",
            "Trondheim",
            "Stavanger",
            "Tromsø",
            "Drammen",
        ],
        streets: &[
            "Storgata",
            "Kirkegata",
            "Strandveien",
            "Skoleveien",
            "Bjørkeveien",
            "Torget",
        ],
    },
    Country {
        phone_prefix: "+45",
        postcode_digits: 4,
        postcode_space: false,
        cities: &["København", "Aarhus", "Odense", "Aalborg", "Esbjerg"],
        streets: &[
            "Nørregade",
            "Vestergade",
            "Østergade",
            "Havnegade",
            "Skolevej",
            "Kirkevej",
        ],
    },
    Country {
        phone_prefix: "+358",
        postcode_digits: 5,
        postcode_space: false,
        cities: &["Helsinki", "Espoo", "Tampere", "Turku", "Oulu"],
        streets: &[
            "Kauppakatu",
            "Rantatie",
            "Koulukatu",
            "Puistotie",
            "Asemakatu",
            "Kirkkokatu",
        ],
    },
];

/// Relative weights of [`COUNTRIES`]: most of the demo CRM's contacts are in Sweden.
pub(crate) const COUNTRY_WEIGHTS: &[u32] = &[70, 12, 10, 8];

/// Invented free-mail providers for contacts without a company.
#[rustfmt::skip]
pub(crate) const MAIL_PROVIDERS: &[&str] = &[
    "postbox.example", "mailbox.example", "brevlada.example", "inbox.example", "webmail.example",
];

#[rustfmt::skip]
pub(crate) const TASK_SUBJECTS: &[&str] = &[
    "Send offer", "Prepare contract", "Update contact details", "Follow up on quote", "Book a demo",
    "Answer invoice question", "Send product sheet", "Renew agreement", "Check delivery date",
    "Send meeting notes",
];

#[rustfmt::skip]
pub(crate) const APPOINTMENT_SUBJECTS: &[&str] = &[
    "Meeting", "Product demo", "Quarterly review", "Lunch meeting", "Site visit", "Workshop",
    "Kick-off", "Contract negotiation",
];

#[rustfmt::skip]
pub(crate) const CALL_SUBJECTS: &[&str] = &[
    "Call", "Follow-up call", "Introduction call", "Support call", "Renewal call",
    "Call about pricing", "Missed call, called back",
];

#[rustfmt::skip]
pub(crate) const EMAIL_SUBJECTS: &[&str] = &[
    "Re: offer", "Question about pricing", "Meeting confirmation", "Re: invoice",
    "Newsletter reply", "Documents as promised", "Re: delivery", "Thank you for the meeting",
];

#[rustfmt::skip]
pub(crate) const MANUAL_ACTION_SUBJECTS: &[&str] = &[
    "Updated address after move", "Merged from import", "Verified phone number", "Added to segment",
    "Checked consent", "Corrected company link",
];

/// Sentences for activity bodies, notes and attachment files.
pub(crate) const SENTENCES: &[&str] = &[
    "Discussed the current setup and next steps.",
    "Interested in the larger package but needs approval from management.",
    "Asked for a revised quote with a longer payment term.",
    "Budget is tight this year; follow up after the summer.",
    "Very happy with the support so far.",
    "Wants a demo for the whole team.",
    "Prefers to be contacted by e-mail.",
    "Will be on parental leave from next month.",
    "Mentioned that a competitor offered a lower price.",
    "Needs the contract in English as well.",
    "Signed the agreement during the meeting.",
    "Had questions about data protection and where the data is stored.",
    "The delivery arrived two days late.",
    "Recommended us to a colleague at another company.",
    "Moved to a new office; address updated.",
    "Not the right person; referred us to purchasing.",
    "Asked to be called back on Thursday afternoon.",
    "Reviewed the invoice together; everything is correct.",
    "Plans to expand to two more sites next year.",
    "Would like training for new employees.",
    "Complained about response times on the phone line.",
    "Agreed to a pilot of three months.",
    "The decision is postponed until the board meets.",
    "Sent the documentation and a link to the webinar.",
    "Met at the trade fair; exchanged business cards.",
    "Uses an older version and wants to upgrade.",
    "Requested a copy of all information we hold.",
    "Confirmed the meeting by phone.",
];

pub(crate) const INBOUND_MESSAGES: &[&str] = &[
    "Hi, could you send me the updated price list?",
    "Thanks for the quick reply!",
    "Is it possible to move our meeting to next week?",
    "We have not received the delivery yet.",
    "Can you call me when you have a moment?",
    "Please remove me from the mailing list.",
    "The invoice seems to have the wrong reference.",
    "Great, that works for us.",
    "Who is our contact person now?",
    "I'm out of office until Monday.",
];

pub(crate) const OUTBOUND_MESSAGES: &[&str] = &[
    "Hi! Here is the information we talked about.",
    "Thank you for your order.",
    "Just checking in: did you have a chance to look at the offer?",
    "Your ticket has been updated.",
    "Reminder: our meeting is tomorrow at 10.",
    "We have corrected the invoice and sent a new copy.",
    "Welcome as a customer!",
    "Happy to help; let me know if anything else comes up.",
    "The new version is now available.",
    "Could you confirm the delivery address?",
];

#[rustfmt::skip]
pub(crate) const TICKET_SUBJECTS: &[&str] = &[
    "Cannot log in", "Invoice shows the wrong amount", "Delivery delayed",
    "Question about my order", "Password reset", "Feature request: export to CSV",
    "App crashes on start", "Wrong item delivered", "Change of invoice address",
    "Slow response in the portal", "Cancel subscription", "Missing order confirmation",
];

pub(crate) const TICKET_COMMENTS: &[&str] = &[
    "Thanks, that solved it.",
    "We are looking into it and will get back to you.",
    "Could you send a screenshot of the error?",
    "It still does not work after the update.",
    "A replacement has been sent.",
    "The invoice has been credited.",
    "Please try again now.",
    "Closing this as solved; reopen if needed.",
    "Escalated to second line support.",
    "Any news on this?",
];

pub(crate) const SURVEY_COMMENTS: &[&str] = &[
    "Quick and friendly help.",
    "Took too long to get an answer.",
    "Solved on the first call.",
    "Had to explain the problem twice.",
    "Very professional.",
    "OK, but the portal is hard to use.",
];

#[rustfmt::skip]
pub(crate) const DEAL_PRODUCTS: &[&str] = &[
    "Annual licence", "Support agreement", "Website redesign", "Consulting hours",
    "Hardware upgrade", "Training package", "Cloud migration", "Maintenance contract",
    "Pilot project", "Add-on module", "Framework agreement", "Service subscription",
];

#[rustfmt::skip]
pub(crate) const PROJECT_THEMES: &[&str] = &[
    "ERP rollout", "Office move", "Website relaunch", "Data migration", "Security audit",
    "Onboarding", "Integration", "Process review", "Network upgrade", "Brand refresh",
];

#[rustfmt::skip]
pub(crate) const CAMPAIGN_THEMES: &[&str] = &[
    "Spring newsletter", "Autumn newsletter", "Trade fair", "Product launch webinar",
    "Customer survey", "Season's greetings", "Partner event", "Summer offer", "Re-activation",
    "Whitepaper download", "Breakfast seminar", "Black Week",
];

#[rustfmt::skip]
pub(crate) const CONSENT_SOURCES: &[&str] = &[
    "web form", "trade fair", "newsletter signup", "phone call", "import", "customer portal",
    "event registration",
];

/// Where a contact came from, for the `custom` JSON field.
#[rustfmt::skip]
pub(crate) const CUSTOM_SOURCES: &[&str] = &[
    "fair 2019", "fair 2021", "fair 2023", "web form", "referral", "import 2018", "cold call",
];

pub(crate) const LANGUAGES: &[&str] = &["sv", "en", "no", "da", "fi", "de"];
