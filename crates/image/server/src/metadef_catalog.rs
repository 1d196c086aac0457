//! The built-in metadata definitions loaded at start, as a DevStack cloud has them
//! after `glance-manage db_load_metadefs`: the standard resource types and a small
//! set of public, protected namespaces (owner `admin`) describing the image and
//! flavor properties rustack's compute service understands. The content is written
//! for rustack from the published property names; a namespace that already exists
//! (by name) is left as it is, so operators' edits survive restarts.

use serde_json::{json, Value};

use crate::store::metadef::{AssociationRecord, DocRecord, NamespaceContents, NamespaceRecord};
use crate::store::{now_text, Store};

/// The resource types every cloud knows.
pub const RESOURCE_TYPES: &[&str] = &[
    "OS::Glance::Image",
    "OS::Cinder::Volume",
    "OS::Nova::Flavor",
    "OS::Nova::Aggregate",
    "OS::Nova::Server",
];

/// The built-in namespaces as create documents (the `POST /v2/metadefs/namespaces`
/// body shape).
pub fn namespaces() -> Vec<Value> {
    vec![
        json!({
            "namespace": "OS::Compute::Hypervisor",
            "display_name": "Hypervisor Selection",
            "description": "Hypervisor and virtual machine mode an image needs; the scheduler \
                            only picks hosts that offer them.",
            "resource_type_associations": [{"name": "OS::Glance::Image"}],
            "properties": {
                "hypervisor_type": {"title": "Hypervisor Type", "type": "string",
                    "description": "The hypervisor the image was built for.",
                    "enum": ["qemu", "kvm", "lxc", "xen", "vmware", "hyperv"]},
                "vm_mode": {"title": "VM Mode", "type": "string",
                    "description": "The virtual machine mode the image needs.",
                    "enum": ["hvm", "xen", "uml", "exe"]}
            }
        }),
        json!({
            "namespace": "OS::Compute::Libvirt",
            "display_name": "libvirt Driver Options",
            "description": "Guest hardware options of the QEMU/KVM compute driver.",
            "resource_type_associations": [
                {"name": "OS::Glance::Image", "prefix": "hw_"},
                {"name": "OS::Nova::Flavor", "prefix": "hw:"}
            ],
            "properties": {
                "boot_menu": {"title": "Boot Menu", "type": "string",
                    "description": "Whether the BIOS boot menu is shown.",
                    "enum": ["true", "false"]},
                "serial_port_count": {"title": "Serial Port Count", "type": "integer",
                    "description": "How many serial ports the guest gets.", "minimum": 0}
            }
        }),
        json!({
            "namespace": "OS::Compute::LibvirtImage",
            "display_name": "libvirt Driver Options for Images",
            "description": "Device models of the QEMU/KVM compute driver, set on images.",
            "resource_type_associations": [{"name": "OS::Glance::Image"}],
            "properties": {
                "hw_disk_bus": {"title": "Disk Bus", "type": "string",
                    "description": "The disk controller the guest's disks attach to.",
                    "enum": ["virtio", "scsi", "ide", "usb", "sata"]},
                "hw_vif_model": {"title": "Virtual Network Interface", "type": "string",
                    "description": "The network interface model of the guest.",
                    "enum": ["virtio", "e1000", "e1000e", "rtl8139", "ne2k_pci", "pcnet"]},
                "hw_video_model": {"title": "Video Model", "type": "string",
                    "description": "The video device of the guest.",
                    "enum": ["vga", "cirrus", "virtio", "qxl", "none"]},
                "hw_qemu_guest_agent": {"title": "QEMU Guest Agent", "type": "string",
                    "description": "Whether the guest runs the QEMU guest agent.",
                    "enum": ["yes", "no"]},
                "os_command_line": {"title": "Kernel Command Line", "type": "string",
                    "description": "Kernel command line for images booted with a separate kernel."}
            }
        }),
        json!({
            "namespace": "OS::Compute::Quota",
            "display_name": "Flavor Quota",
            "description": "Resource limits a flavor may put on its instances.",
            "resource_type_associations": [{"name": "OS::Nova::Flavor"}],
            "objects": [
                {"name": "CPU Limits",
                 "description": "Limits on the CPU time of an instance.",
                 "required": [],
                 "properties": {
                    "quota:cpu_shares": {"title": "Quota: CPU Shares", "type": "integer",
                        "description": "Relative weight of the instance's CPU time."},
                    "quota:cpu_period": {"title": "Quota: CPU Period", "type": "integer",
                        "description": "Enforcement interval in microseconds.",
                        "minimum": 1000, "maximum": 1_000_000},
                    "quota:cpu_quota": {"title": "Quota: CPU Quota", "type": "integer",
                        "description": "CPU time per period in microseconds."}
                 }},
                {"name": "Disk QoS",
                 "description": "Limits on the disk I/O of an instance.",
                 "required": [],
                 "properties": {
                    "quota:disk_read_bytes_sec": {"title": "Quota: Disk read bytes / sec", "type": "integer",
                        "description": "Read bandwidth limit."},
                    "quota:disk_write_bytes_sec": {"title": "Quota: Disk Write Bytes / sec", "type": "integer",
                        "description": "Write bandwidth limit."},
                    "quota:disk_total_iops_sec": {"title": "Quota: Disk Total IOPS / sec", "type": "integer",
                        "description": "Total I/O operations per second limit."}
                 }}
            ]
        }),
        json!({
            "namespace": "OS::Compute::Watchdog",
            "display_name": "Watchdog Behavior",
            "description": "What the emulated watchdog does when the guest stops answering it.",
            "resource_type_associations": [
                {"name": "OS::Glance::Image"},
                {"name": "OS::Nova::Flavor"}
            ],
            "properties": {
                "hw_watchdog_action": {"title": "Watchdog Action", "type": "string",
                    "description": "Action taken when the watchdog fires.",
                    "enum": ["disabled", "reset", "poweroff", "pause", "none"]}
            }
        }),
        json!({
            "namespace": "OS::Software::DBMS",
            "display_name": "Database Software",
            "description": "Tags for images carrying database software.",
            "resource_type_associations": [
                {"name": "OS::Glance::Image"},
                {"name": "OS::Cinder::Volume", "properties_target": "image"},
                {"name": "OS::Nova::Server", "properties_target": "metadata"}
            ],
            "tags": [{"name": "MySQL"}, {"name": "PostgreSQL"}, {"name": "MariaDB"}]
        }),
    ]
}

/// Splits a namespace create document into the stored namespace and its contents
/// (the caller has validated it).
pub fn from_document(doc: &Value, owner: Option<String>) -> (NamespaceRecord, NamespaceContents) {
    let now = now_text();
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
    let ns = NamespaceRecord {
        id: rustack_common::new_uuid(),
        namespace: text("namespace").unwrap_or_default(),
        display_name: text("display_name"),
        description: text("description"),
        visibility: text("visibility").unwrap_or_else(|| "private".into()),
        protected: doc
            .get("protected")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        owner,
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    let stamp = |name: String, body: Value| DocRecord {
        name,
        body,
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    let mut contents = NamespaceContents::default();
    for a in doc
        .get("resource_type_associations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_string);
        contents.associations.push(AssociationRecord {
            name: field("name").unwrap_or_default(),
            prefix: field("prefix"),
            properties_target: field("properties_target"),
            created_at: now.clone(),
            updated_at: now.clone(),
        });
    }
    if let Some(props) = doc.get("properties").and_then(Value::as_object) {
        for (name, def) in props {
            contents
                .properties
                .push(stamp(name.clone(), strip_name(def)));
        }
    }
    for o in doc
        .get("objects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = o.get("name").and_then(Value::as_str).unwrap_or_default();
        contents
            .objects
            .push(stamp(name.to_string(), strip_name(o)));
    }
    for t in doc
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
        contents.tags.push(stamp(name.to_string(), Value::Null));
    }
    (ns, contents)
}

/// A definition without its `name` and the read-only attributes (they are stored
/// apart or computed).
pub fn strip_name(def: &Value) -> Value {
    let mut d = def.clone();
    if let Some(m) = d.as_object_mut() {
        for k in ["name", "created_at", "updated_at", "schema", "self"] {
            m.remove(k);
        }
    }
    d
}

/// Registers the standard resource types and creates the built-in namespaces that
/// do not exist yet; returns how many namespaces were created.
pub async fn load(store: &Store) -> Result<usize, rustack_common::Error> {
    store.resource_types_ensure(RESOURCE_TYPES).await?;
    let mut created = 0;
    for doc in namespaces() {
        let name = doc["namespace"].as_str().unwrap_or_default();
        if store.ns_get(name).await?.is_some() {
            continue;
        }
        let (mut ns, contents) = from_document(&doc, Some("admin".into()));
        ns.visibility = "public".into();
        ns.protected = true;
        match store.ns_insert(&ns, &contents).await {
            Ok(()) => created += 1,
            // Another process loaded it first.
            Err(rustack_common::Error::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_namespaces_are_well_formed() {
        let all = namespaces();
        assert!(all.len() >= 5);
        for doc in &all {
            let (ns, c) = from_document(doc, None);
            assert!(ns.namespace.starts_with("OS::"), "{}", ns.namespace);
            assert!(!c.associations.is_empty(), "{}", ns.namespace);
            for a in &c.associations {
                assert!(RESOURCE_TYPES.contains(&a.name.as_str()), "{}", a.name);
            }
            for p in &c.properties {
                assert!(p.body["title"].is_string() && p.body["type"].is_string());
            }
        }
    }
}
