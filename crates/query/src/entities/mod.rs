//! The Snuba entities and datasets sentry-sls knows: their columns and the
//! types `meta` reports for them, their required conditions and join
//! relationships. The data itself lives in `catalog.rs`.

mod catalog;

pub use catalog::{DATASETS, ENTITIES, STORAGES};

/// One column of an entity, with the ClickHouse type Snuba reports in `meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnDef {
    /// Column name as written in SnQL (`tags.key`, `exception_stacks.type`, ...).
    pub name: &'static str,
    /// ClickHouse type string as returned in `meta[].type` (§7.1 of snuba-api.md).
    pub ty: &'static str,
}

/// Shorthand used by the catalog.
pub(crate) const fn col(name: &'static str, ty: &'static str) -> ColumnDef {
    ColumnDef { name, ty }
}

/// A Snuba entity: what a `MATCH (entity)` may reference.
#[derive(Debug)]
pub struct EntitySpec {
    /// Entity name used in `MATCH (...)`.
    pub name: &'static str,
    /// Physical and readonly columns, nested sub-columns included (`tags.key`).
    pub columns: &'static [ColumnDef],
    /// Names the entity maps onto other columns or expressions (`release`, `user`,
    /// `time`, `tags_key`, ...), with the type their result has.
    pub virtual_columns: &'static [ColumnDef],
    /// Column that needs `>=` and `<` conditions with datetime literals, if any.
    pub required_time_column: Option<&'static str>,
    /// Columns that need a top-level `= int` / `IN (ints)` condition.
    pub required_columns: &'static [&'static str],
    /// Map-like nested columns that accept `col[key]` (`tags`, `contexts`, ...).
    pub subscriptables: &'static [&'static str],
    /// Join relationships: (relationship name, target entity).
    pub joins: &'static [(&'static str, &'static str)],
    /// Whether the log store backs this entity (false: answered empty).
    pub stored: bool,
}

/// A dataset: the URL segment of `/{dataset}/snql` and the entities it may query.
#[derive(Debug)]
pub struct DatasetSpec {
    /// Dataset name as in the URL.
    pub name: &'static str,
    /// Entities a query on this dataset may MATCH.
    pub entities: &'static [&'static str],
}

/// Looks an entity up by name.
pub fn entity(name: &str) -> Option<&'static EntitySpec> {
    ENTITIES.iter().find(|spec| spec.name == name)
}

/// Looks a dataset up by name.
pub fn dataset(name: &str) -> Option<&'static DatasetSpec> {
    DATASETS.iter().find(|spec| spec.name == name)
}

impl EntitySpec {
    /// The declared type of a column (physical or virtual), if the entity has it.
    pub fn column_type(&self, name: &str) -> Option<&'static str> {
        self.columns
            .iter()
            .chain(self.virtual_columns.iter())
            .find(|column| column.name == name)
            .map(|column| column.ty)
    }

    /// Whether `name` is an Array column (including nested sub-columns).
    pub fn is_array_column(&self, name: &str) -> bool {
        self.column_type(name)
            .is_some_and(|ty| ty.starts_with("Array("))
    }

    /// The target entity of a join relationship.
    pub fn join_target(&self, relationship: &str) -> Option<&'static str> {
        self.joins
            .iter()
            .find(|(name, _)| *name == relationship)
            .map(|(_, target)| *target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn catalog_is_consistent() {
        let mut entity_names = HashSet::new();
        for spec in ENTITIES {
            assert!(entity_names.insert(spec.name), "entity {} twice", spec.name);
            let mut columns = HashSet::new();
            for column in spec.columns.iter().chain(spec.virtual_columns) {
                assert!(
                    columns.insert(column.name),
                    "{}.{} declared twice",
                    spec.name,
                    column.name
                );
            }
            if let Some(time) = spec.required_time_column {
                assert!(
                    spec.column_type(time).is_some(),
                    "{}: time column {time}",
                    spec.name
                );
            }
            for required in spec.required_columns {
                assert!(
                    spec.column_type(required).is_some(),
                    "{}: {required}",
                    spec.name
                );
            }
            for (relationship, target) in spec.joins {
                assert!(
                    entity(target).is_some(),
                    "{} -[{relationship}]-> {target}",
                    spec.name
                );
            }
        }
        for dataset_spec in DATASETS {
            for name in dataset_spec.entities {
                assert!(
                    entity(name).is_some(),
                    "dataset {} names {name}",
                    dataset_spec.name
                );
            }
        }
        assert!(entity("events")
            .unwrap()
            .is_array_column("exception_stacks.type"));
        assert_eq!(
            entity("events").unwrap().column_type("profile_id"),
            Some("Nullable(String)")
        );
    }
}
