//! Metadata definitions (`/v2/metadefs`): namespaces, resource types and their
//! associations, objects, properties and tags. Objects and properties are stored as
//! their JSON documents (Glance keeps them as JSON too); children reference the
//! namespace by a surrogate id so that renaming a namespace is one update.

use rustack_common::Error;
use rustack_db::{b, db_internal, map_err, DbRow};
use serde_json::Value;

use super::{i, os, s, Store};

/// One namespace as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct NamespaceRecord {
    /// Surrogate key the children refer to.
    pub id: String,
    /// The namespace's name (unique).
    pub namespace: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// `public` or `private`.
    pub visibility: String,
    /// Protected namespaces cannot be deleted.
    pub protected: bool,
    /// Owning project.
    pub owner: Option<String>,
    /// Creation time (stored form).
    pub created_at: String,
    /// Update time (stored form).
    pub updated_at: String,
}

/// A resource type association of a namespace.
#[derive(Clone, Debug, PartialEq)]
pub struct AssociationRecord {
    /// The resource type's name (`OS::Glance::Image`).
    pub name: String,
    /// Prefix of the namespace's properties on this resource type.
    pub prefix: Option<String>,
    /// Where on the resource the properties go (`image` for volumes).
    pub properties_target: Option<String>,
    /// Creation time (stored form).
    pub created_at: String,
    /// Update time (stored form).
    pub updated_at: String,
}

/// A resource type.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceTypeRecord {
    /// Its name.
    pub name: String,
    /// Creation time (stored form).
    pub created_at: String,
    /// Update time (stored form).
    pub updated_at: String,
}

/// A named JSON document of a namespace (an object or a property definition), or a
/// tag (whose document is empty).
#[derive(Clone, Debug, PartialEq)]
pub struct DocRecord {
    /// Its name within the namespace.
    pub name: String,
    /// The definition without `name` (Null for tags).
    pub body: Value,
    /// Creation time (stored form).
    pub created_at: String,
    /// Update time (stored form).
    pub updated_at: String,
}

/// The kinds of named children of a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocKind {
    /// Objects (`metadef_objects`).
    Object,
    /// Property definitions (`metadef_properties`).
    Property,
    /// Tags (`metadef_tags`).
    Tag,
}

impl DocKind {
    fn table(self) -> &'static str {
        match self {
            DocKind::Object => "metadef_objects",
            DocKind::Property => "metadef_properties",
            DocKind::Tag => "metadef_tags",
        }
    }

    fn columns(self) -> &'static str {
        match self {
            DocKind::Tag => "name, '' AS body, created_at, updated_at",
            _ => "name, body, created_at, updated_at",
        }
    }
}

/// A whole namespace to create: the namespace and its initial children.
#[derive(Clone, Debug, Default)]
pub struct NamespaceContents {
    /// Resource type associations.
    pub associations: Vec<AssociationRecord>,
    /// Objects.
    pub objects: Vec<DocRecord>,
    /// Property definitions.
    pub properties: Vec<DocRecord>,
    /// Tags.
    pub tags: Vec<DocRecord>,
}

const NS_COLUMNS: &str =
    "id, namespace, display_name, description, visibility, protected, owner, created_at, updated_at";

fn ns_record(row: &DbRow) -> Result<NamespaceRecord, Error> {
    Ok(NamespaceRecord {
        id: s(row, "id")?,
        namespace: s(row, "namespace")?,
        display_name: os(row, "display_name")?,
        description: os(row, "description")?,
        visibility: s(row, "visibility")?,
        protected: i(row, "protected")? != 0,
        owner: os(row, "owner")?,
        created_at: s(row, "created_at")?,
        updated_at: s(row, "updated_at")?,
    })
}

fn doc_record(row: &DbRow, kind: DocKind) -> Result<DocRecord, Error> {
    let body = match kind {
        DocKind::Tag => Value::Null,
        _ => serde_json::from_str(&s(row, "body")?).unwrap_or(Value::Null),
    };
    Ok(DocRecord {
        name: s(row, "name")?,
        body,
        created_at: s(row, "created_at")?,
        updated_at: s(row, "updated_at")?,
    })
}

fn duplicate(kind: DocKind, name: &str, namespace: &str) -> String {
    match kind {
        DocKind::Object => format!(
            "A metadata definition object with name={name} already exists in namespace={namespace}."
        ),
        DocKind::Property => format!(
            "A metadata definition property with name={name} already exists in namespace={namespace}."
        ),
        DocKind::Tag => format!(
            "A metadata tag with name={name} already exists in namespace={namespace}. (Please note that metadata tag names are case insensitive)."
        ),
    }
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

async fn ensure_resource_type(tx: &mut Tx<'_>, name: &str, now: &str) -> Result<(), Error> {
    // ON CONFLICT: two processes (or requests) may register the same type at once.
    sqlx::query(
        "INSERT INTO metadef_resource_types (name, protected, created_at, updated_at) \
         VALUES ($1, 0, $2, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db_internal)?;
    Ok(())
}

async fn insert_association(
    tx: &mut Tx<'_>,
    ns: &NamespaceRecord,
    a: &AssociationRecord,
) -> Result<(), Error> {
    ensure_resource_type(tx, &a.name, &a.created_at).await?;
    sqlx::query(
        "INSERT INTO metadef_namespace_resource_types (namespace_id, resource_type, prefix, \
         properties_target, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&ns.id)
    .bind(&a.name)
    .bind(&a.prefix)
    .bind(&a.properties_target)
    .bind(&a.created_at)
    .bind(&a.updated_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        map_err(e, || {
            format!(
                "The metadata definition resource-type association of resource-type={} to namespace={} already exists.",
                a.name, ns.namespace
            )
        })
    })?;
    Ok(())
}

async fn insert_doc(
    tx: &mut Tx<'_>,
    kind: DocKind,
    ns: &NamespaceRecord,
    d: &DocRecord,
) -> Result<(), Error> {
    if kind == DocKind::Tag {
        // Glance's tag names are unique case-insensitively.
        let clash = sqlx::query(
            "SELECT name FROM metadef_tags WHERE namespace_id = $1 AND LOWER(name) = LOWER($2)",
        )
        .bind(&ns.id)
        .bind(&d.name)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_internal)?;
        if clash.is_some() {
            return Err(Error::conflict(duplicate(kind, &d.name, &ns.namespace)));
        }
    }
    let sql = match kind {
        DocKind::Tag => "INSERT INTO metadef_tags (namespace_id, name, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4)"
            .to_string(),
        _ => format!(
            "INSERT INTO {} (namespace_id, name, created_at, updated_at, body) \
             VALUES ($1, $2, $3, $4, $5)",
            kind.table()
        ),
    };
    let mut q = sqlx::query(&sql)
        .bind(&ns.id)
        .bind(&d.name)
        .bind(&d.created_at)
        .bind(&d.updated_at);
    if kind != DocKind::Tag {
        q = q.bind(d.body.to_string());
    }
    q.execute(&mut **tx)
        .await
        .map_err(|e| map_err(e, || duplicate(kind, &d.name, &ns.namespace)))?;
    Ok(())
}

impl Store {
    /// Creates a namespace with its initial children in one transaction; 409 when
    /// the name is taken or a child is repeated.
    pub async fn ns_insert(
        &self,
        ns: &NamespaceRecord,
        contents: &NamespaceContents,
    ) -> Result<(), Error> {
        let mut tx = self.pool().begin().await.map_err(db_internal)?;
        sqlx::query(&format!(
            "INSERT INTO metadef_namespaces ({NS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&ns.id)
        .bind(&ns.namespace)
        .bind(&ns.display_name)
        .bind(&ns.description)
        .bind(&ns.visibility)
        .bind(b(ns.protected))
        .bind(&ns.owner)
        .bind(&ns.created_at)
        .bind(&ns.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            map_err(e, || {
                format!(
                    "The metadata definition namespace={} already exists.",
                    ns.namespace
                )
            })
        })?;
        for a in &contents.associations {
            insert_association(&mut tx, ns, a).await?;
        }
        for (kind, docs) in [
            (DocKind::Object, &contents.objects),
            (DocKind::Property, &contents.properties),
            (DocKind::Tag, &contents.tags),
        ] {
            for d in docs {
                insert_doc(&mut tx, kind, ns, d).await?;
            }
        }
        tx.commit().await.map_err(db_internal)
    }

    /// The namespace named `name`.
    pub async fn ns_get(&self, name: &str) -> Result<Option<NamespaceRecord>, Error> {
        let row = sqlx::query(&format!(
            "SELECT {NS_COLUMNS} FROM metadef_namespaces WHERE namespace = $1"
        ))
        .bind(name)
        .fetch_optional(self.pool())
        .await
        .map_err(db_internal)?;
        row.as_ref().map(ns_record).transpose()
    }

    /// Every namespace, oldest first.
    pub async fn ns_list(&self) -> Result<Vec<NamespaceRecord>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT {NS_COLUMNS} FROM metadef_namespaces ORDER BY created_at, namespace"
        ))
        .fetch_all(self.pool())
        .await
        .map_err(db_internal)?;
        rows.iter().map(ns_record).collect()
    }

    /// Writes a namespace's attributes (a rename included); 409 when the new name
    /// is taken.
    pub async fn ns_update(&self, ns: &NamespaceRecord) -> Result<(), Error> {
        sqlx::query(
            "UPDATE metadef_namespaces SET namespace = $1, display_name = $2, description = $3, \
             visibility = $4, protected = $5, owner = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(&ns.namespace)
        .bind(&ns.display_name)
        .bind(&ns.description)
        .bind(&ns.visibility)
        .bind(b(ns.protected))
        .bind(&ns.owner)
        .bind(&ns.updated_at)
        .bind(&ns.id)
        .execute(self.pool())
        .await
        .map_err(|e| {
            map_err(e, || {
                format!(
                    "The metadata definition namespace={} already exists.",
                    ns.namespace
                )
            })
        })?;
        Ok(())
    }

    /// Deletes a namespace and everything in it.
    pub async fn ns_delete(&self, id: &str) -> Result<(), Error> {
        let mut tx = self.pool().begin().await.map_err(db_internal)?;
        for table in [
            "metadef_namespace_resource_types",
            "metadef_objects",
            "metadef_properties",
            "metadef_tags",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE namespace_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_internal)?;
        }
        sqlx::query("DELETE FROM metadef_namespaces WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_internal)?;
        tx.commit().await.map_err(db_internal)
    }

    /// Every resource type, by name.
    pub async fn resource_types(&self) -> Result<Vec<ResourceTypeRecord>, Error> {
        let rows = sqlx::query(
            "SELECT name, created_at, updated_at FROM metadef_resource_types ORDER BY created_at, name",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db_internal)?;
        rows.iter()
            .map(|r| {
                Ok(ResourceTypeRecord {
                    name: s(r, "name")?,
                    created_at: s(r, "created_at")?,
                    updated_at: s(r, "updated_at")?,
                })
            })
            .collect()
    }

    /// Registers the resource types in `names` that do not exist yet.
    pub async fn resource_types_ensure(&self, names: &[&str]) -> Result<(), Error> {
        let now = super::now_text();
        let mut tx = self.pool().begin().await.map_err(db_internal)?;
        for n in names {
            ensure_resource_type(&mut tx, n, &now).await?;
        }
        tx.commit().await.map_err(db_internal)
    }

    /// The resource type associations of the namespace `ns_id`, oldest first.
    pub async fn associations(&self, ns_id: &str) -> Result<Vec<AssociationRecord>, Error> {
        let rows = sqlx::query(
            "SELECT resource_type, prefix, properties_target, created_at, updated_at \
             FROM metadef_namespace_resource_types WHERE namespace_id = $1 \
             ORDER BY created_at, resource_type",
        )
        .bind(ns_id)
        .fetch_all(self.pool())
        .await
        .map_err(db_internal)?;
        rows.iter()
            .map(|r| {
                Ok(AssociationRecord {
                    name: s(r, "resource_type")?,
                    prefix: os(r, "prefix")?,
                    properties_target: os(r, "properties_target")?,
                    created_at: s(r, "created_at")?,
                    updated_at: s(r, "updated_at")?,
                })
            })
            .collect()
    }

    /// Associates a resource type (created if unknown) with a namespace; 409 when
    /// it already is.
    pub async fn association_insert(
        &self,
        ns: &NamespaceRecord,
        a: &AssociationRecord,
    ) -> Result<(), Error> {
        let mut tx = self.pool().begin().await.map_err(db_internal)?;
        insert_association(&mut tx, ns, a).await?;
        tx.commit().await.map_err(db_internal)
    }

    /// Removes an association; false when there was none.
    pub async fn association_delete(&self, ns_id: &str, name: &str) -> Result<bool, Error> {
        let n = sqlx::query(
            "DELETE FROM metadef_namespace_resource_types WHERE namespace_id = $1 AND resource_type = $2",
        )
        .bind(ns_id)
        .bind(name)
        .execute(self.pool())
        .await
        .map_err(db_internal)?
        .rows_affected();
        Ok(n > 0)
    }

    /// The children of `kind` of a namespace, by creation then name.
    pub async fn docs(&self, kind: DocKind, ns_id: &str) -> Result<Vec<DocRecord>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM {} WHERE namespace_id = $1 ORDER BY created_at, name",
            kind.columns(),
            kind.table()
        ))
        .bind(ns_id)
        .fetch_all(self.pool())
        .await
        .map_err(db_internal)?;
        rows.iter().map(|r| doc_record(r, kind)).collect()
    }

    /// One child of `kind` by name.
    pub async fn doc_get(
        &self,
        kind: DocKind,
        ns_id: &str,
        name: &str,
    ) -> Result<Option<DocRecord>, Error> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM {} WHERE namespace_id = $1 AND name = $2",
            kind.columns(),
            kind.table()
        ))
        .bind(ns_id)
        .bind(name)
        .fetch_optional(self.pool())
        .await
        .map_err(db_internal)?;
        row.as_ref().map(|r| doc_record(r, kind)).transpose()
    }

    /// Adds a child; 409 when the name is taken.
    pub async fn doc_insert(
        &self,
        kind: DocKind,
        ns: &NamespaceRecord,
        d: &DocRecord,
    ) -> Result<(), Error> {
        let mut tx = self.pool().begin().await.map_err(db_internal)?;
        insert_doc(&mut tx, kind, ns, d).await?;
        tx.commit().await.map_err(db_internal)
    }

    /// Replaces the child named `old_name` with `d` (a rename included); 409 when
    /// the new name is taken.
    pub async fn doc_update(
        &self,
        kind: DocKind,
        ns: &NamespaceRecord,
        old_name: &str,
        d: &DocRecord,
    ) -> Result<(), Error> {
        let mut tx = self.pool().begin().await.map_err(db_internal)?;
        sqlx::query(&format!(
            "DELETE FROM {} WHERE namespace_id = $1 AND name = $2",
            kind.table()
        ))
        .bind(&ns.id)
        .bind(old_name)
        .execute(&mut *tx)
        .await
        .map_err(db_internal)?;
        insert_doc(&mut tx, kind, ns, d).await?;
        tx.commit().await.map_err(db_internal)
    }

    /// Deletes one child; false when there was none.
    pub async fn doc_delete(&self, kind: DocKind, ns_id: &str, name: &str) -> Result<bool, Error> {
        let n = sqlx::query(&format!(
            "DELETE FROM {} WHERE namespace_id = $1 AND name = $2",
            kind.table()
        ))
        .bind(ns_id)
        .bind(name)
        .execute(self.pool())
        .await
        .map_err(db_internal)?
        .rows_affected();
        Ok(n > 0)
    }

    /// Deletes every child of `kind`.
    pub async fn docs_delete_all(&self, kind: DocKind, ns_id: &str) -> Result<(), Error> {
        sqlx::query(&format!(
            "DELETE FROM {} WHERE namespace_id = $1",
            kind.table()
        ))
        .bind(ns_id)
        .execute(self.pool())
        .await
        .map_err(db_internal)?;
        Ok(())
    }

    /// Replaces (or, with `append`, extends) the children of `kind` with `docs` in
    /// one transaction; 409 on a repeated name.
    pub async fn docs_replace(
        &self,
        kind: DocKind,
        ns: &NamespaceRecord,
        docs: &[DocRecord],
        append: bool,
    ) -> Result<(), Error> {
        let mut tx = self.pool().begin().await.map_err(db_internal)?;
        if !append {
            sqlx::query(&format!(
                "DELETE FROM {} WHERE namespace_id = $1",
                kind.table()
            ))
            .bind(&ns.id)
            .execute(&mut *tx)
            .await
            .map_err(db_internal)?;
        }
        for d in docs {
            insert_doc(&mut tx, kind, ns, d).await?;
        }
        tx.commit().await.map_err(db_internal)
    }
}
