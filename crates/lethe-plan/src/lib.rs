//! The deletion planner (SPEC §2, §3, §11): from the entity an operation starts at and the
//! schema's relation rules, which other records the operation reaches, what may block a
//! member, and which links are rewritten.
//!
//! A plan is a description in terms of the schema — *paths* of relations followed from the
//! members — not a list of records. The store turns each path into one set-based SQL statement
//! per batch of members, so the work per batch is a fixed number of statements however many
//! records it touches.
//!
//! **Architecture invariant:** knows nothing of SQL, HTTP or any database.

use lethe_schema::{ColumnName, EntityName, OnDelete, PurgePrecondition, Relation, Schema};

/// How many distinct relation paths one plan may follow. The schema has no cycles, so paths
/// are finite, but a schema with many diamonds could still multiply them; past this bound
/// the operation is refused rather than planned.
pub const MAX_PATHS: usize = 512;

/// What an operation does to its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Move to the trash with their `cascade` children (soft delete).
    Trash,
    /// Erase for good, with their `cascade` children; rewrite `set_null` and `anonymize`
    /// links that point at anything erased.
    Purge,
}

/// One step from a set of records to the records that point at them through one relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The entity of the records reached.
    pub child: EntityName,
    /// Their column that holds the id of a record of the previous step.
    pub column: ColumnName,
    /// For a polymorphic owner: the column naming the parent entity, and the value it must
    /// have for this hop (the previous step's entity).
    pub discriminator: Option<(ColumnName, EntityName)>,
    /// The rule of the relation followed.
    pub on_delete: OnDelete,
}

/// A set of records reached from the members: follow `path` hop by hop. An empty path is the
/// members themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    pub entity: EntityName,
    pub path: Vec<Hop>,
}

impl Reach {
    fn members(entity: &EntityName) -> Reach {
        Reach {
            entity: entity.clone(),
            path: Vec::new(),
        }
    }

    fn then(&self, relation: &Relation, from: &EntityName) -> Reach {
        let mut path = self.path.clone();
        path.push(Hop {
            child: relation.child.clone(),
            column: relation.column.clone(),
            discriminator: relation
                .discriminator
                .as_ref()
                .map(|column| (column.clone(), from.clone())),
            on_delete: relation.on_delete,
        });
        Reach {
            entity: relation.child.clone(),
            path,
        }
    }

    /// How many hops from the members.
    pub fn depth(&self) -> usize {
        self.path.len()
    }

    /// A readable form for previews and errors: `contact → ticket.contact_id →
    /// ticket_comment.ticket_id`.
    pub fn describe(&self, root: &EntityName) -> String {
        let mut text = root.to_string();
        for hop in &self.path {
            text.push_str(" → ");
            text.push_str(hop.child.as_str());
            text.push('.');
            text.push_str(hop.column.as_str());
        }
        text
    }
}

/// Why a member may be blocked.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    /// Any record in the reach blocks the member (a `restrict` child).
    Restrict,
    /// A record in the reach that matches `when` but not `require` blocks the member.
    Precondition(PurgePrecondition),
}

/// A test that blocks a member when it finds records.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The records that block. For `Restrict` the last hop is the restrict relation.
    pub target: Reach,
    pub kind: CheckKind,
}

/// Links into erased records that are rewritten instead of erased (purge only).
#[derive(Debug, Clone, PartialEq)]
pub struct Rewrite {
    /// The records whose link is rewritten; the last hop is the `set_null` or `anonymize`
    /// relation, and its column is the link.
    pub target: Reach,
    /// `SetNull` cuts the link; `Anonymize` points it at the "Deleted User" placeholder and
    /// anonymises the record's own personal fields.
    pub rule: OnDelete,
}

/// What an operation on members of `root` does, as paths through the schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub root: EntityName,
    pub operation: Operation,
    /// The `cascade` descendants, shallowest first: acting on them in this order goes from
    /// parents to children, and in reverse from children to parents.
    pub cascade: Vec<Reach>,
    pub checks: Vec<Check>,
    /// Empty for `Trash`.
    pub rewrites: Vec<Rewrite>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("there is no entity type `{0}` in the schema")]
    UnknownEntity(String),
    #[error(
        "deleting a {root} would follow more than {MAX_PATHS} relation paths; simplify the schema's cascade rules"
    )]
    TooManyPaths { root: String },
}

impl Plan {
    /// Every entity the operation acts on (the root and its cascade descendants), each once,
    /// parents before children.
    pub fn entities(&self) -> Vec<EntityName> {
        let mut names = vec![self.root.clone()];
        for reach in &self.cascade {
            if !names.contains(&reach.entity) {
                names.push(reach.entity.clone());
            }
        }
        names
    }

    /// Every entity whose rows the operation deletes or changes, each once: the root, its
    /// cascade descendants, and (for a purge) the records whose links into erased ones are
    /// cut or anonymised. What a purge must make physical.
    pub fn touched_entities(&self) -> Vec<EntityName> {
        let mut names = self.entities();
        for rewrite in &self.rewrites {
            if !names.contains(&rewrite.target.entity) {
                names.push(rewrite.target.entity.clone());
            }
        }
        names
    }

    /// Every set of records the operation acts on: the members, then the cascade paths.
    pub fn acted_on(&self) -> impl Iterator<Item = Reach> + '_ {
        std::iter::once(Reach::members(&self.root)).chain(self.cascade.iter().cloned())
    }
}

/// Plans `operation` on members of `root`.
pub fn plan(schema: &Schema, root: &str, operation: Operation) -> Result<Plan, PlanError> {
    let entity = schema
        .entity(root)
        .ok_or_else(|| PlanError::UnknownEntity(root.to_owned()))?;
    let root = entity.name.clone();
    let too_many = || PlanError::TooManyPaths {
        root: root.to_string(),
    };

    // Breadth first, so `cascade` comes out shallowest first.
    let mut cascade = Vec::new();
    let mut frontier = vec![Reach::members(&root)];
    let mut nodes = vec![Reach::members(&root)];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for reach in &frontier {
            for relation in schema.relations_to(&reach.entity) {
                if relation.on_delete == OnDelete::Cascade {
                    next.push(reach.then(relation, &reach.entity));
                }
            }
        }
        if cascade.len() + next.len() > MAX_PATHS {
            return Err(too_many());
        }
        cascade.extend(next.iter().cloned());
        nodes.extend(next.iter().cloned());
        frontier = next;
    }

    let mut checks = Vec::new();
    let mut rewrites = Vec::new();
    for node in &nodes {
        for relation in schema.relations_to(&node.entity) {
            match relation.on_delete {
                OnDelete::Restrict => checks.push(Check {
                    target: node.then(relation, &node.entity),
                    kind: CheckKind::Restrict,
                }),
                OnDelete::SetNull | OnDelete::Anonymize if operation == Operation::Purge => {
                    rewrites.push(Rewrite {
                        target: node.then(relation, &node.entity),
                        rule: relation.on_delete,
                    });
                }
                _ => {}
            }
        }
        if operation == Operation::Purge
            && let Some(entity) = schema.entity(node.entity.as_str())
        {
            for precondition in &entity.purge_preconditions {
                checks.push(Check {
                    target: node.clone(),
                    kind: CheckKind::Precondition(precondition.clone()),
                });
            }
        }
        if checks.len() + rewrites.len() > MAX_PATHS {
            return Err(too_many());
        }
    }

    Ok(Plan {
        root,
        operation,
        cascade,
        checks,
        rewrites,
    })
}

/// The records of one entity that point at the members, directly or through other records:
/// every path that reaches them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    pub entity: EntityName,
    pub paths: Vec<Reach>,
}

/// Every entity whose records point at members of `root` through any relation, whatever
/// its rule, and through the records that point at those, and so on: what an export "with
/// related records" or a person's access request gathers. Each entity comes once with every
/// path that reaches it, and after every entity it refers to among them, so that a file
/// read in this order can be loaded parents first. The members themselves are not in it.
pub fn related(schema: &Schema, root: &str) -> Result<Vec<Related>, PlanError> {
    let entity = schema
        .entity(root)
        .ok_or_else(|| PlanError::UnknownEntity(root.to_owned()))?;
    let root = entity.name.clone();
    let mut found: Vec<Related> = Vec::new();
    let mut paths = 0_usize;
    let mut frontier = vec![Reach::members(&root)];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for reach in &frontier {
            for relation in schema.relations_to(&reach.entity) {
                next.push(reach.then(relation, &reach.entity));
            }
        }
        paths += next.len();
        if paths > MAX_PATHS {
            return Err(PlanError::TooManyPaths {
                root: root.to_string(),
            });
        }
        for reach in &next {
            match found
                .iter_mut()
                .find(|related| related.entity == reach.entity)
            {
                Some(related) => related.paths.push(reach.clone()),
                None => found.push(Related {
                    entity: reach.entity.clone(),
                    paths: vec![reach.clone()],
                }),
            }
        }
        frontier = next;
    }
    // The schema lists its entities parents first.
    let place = |name: &EntityName| {
        schema
            .entity_names()
            .position(|entity| entity == name.as_str())
    };
    found.sort_by_key(|related| place(&related.entity));
    Ok(found)
}

#[cfg(test)]
mod tests;
