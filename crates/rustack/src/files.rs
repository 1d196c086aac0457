//! Files written at first start, in the formats Kolla-Ansible uses: `passwords.yml`
//! (kolla-genpwd's key names), `admin-openrc.sh` and `clouds.yaml` (post-deploy).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rand::distributions::Alphanumeric;
use rand::Rng;

/// Kolla password keys rustack generates (the ones an all-in-one deploy reads, plus the
/// service users of the services rustack will run).
pub const PASSWORD_KEYS: &[&str] = &[
    "database_password",
    "rabbitmq_password",
    "memcache_secret_key",
    "keystone_admin_password",
    "keystone_database_password",
    "glance_database_password",
    "glance_keystone_password",
    "placement_database_password",
    "placement_keystone_password",
    "nova_database_password",
    "nova_api_database_password",
    "nova_keystone_password",
    "neutron_database_password",
    "neutron_keystone_password",
    "cinder_database_password",
    "cinder_keystone_password",
    "swift_keystone_password",
    "barbican_database_password",
    "barbican_keystone_password",
    "barbican_crypto_key",
    "heat_database_password",
    "heat_keystone_password",
    "heat_domain_admin_password",
    "horizon_secret_key",
    "metadata_secret",
    "osprofiler_secret",
];

/// A random secret of `n` alphanumeric characters.
pub fn secret(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// Writes `contents` to `path` with mode 0600 (atomically: temp file + rename).
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Loads `passwords.yml`, generating it (and any key it lacks) on first use.
pub fn ensure_passwords(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map: BTreeMap<String, String> = if path.exists() {
        let text = std::fs::read_to_string(path)?;
        serde_yaml::from_str::<Option<BTreeMap<String, serde_yaml::Value>>>(&text)?
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_yaml::Value::String(s) => Some((k, s)),
                serde_yaml::Value::Number(n) => Some((k, n.to_string())),
                _ => None,
            })
            .collect()
    } else {
        BTreeMap::new()
    };
    let mut changed = !path.exists();
    for key in PASSWORD_KEYS {
        if !map.contains_key(*key) {
            map.insert(key.to_string(), secret(40));
            changed = true;
        }
    }
    if changed {
        let mut out = String::from("---\n");
        for (k, v) in &map {
            out.push_str(&format!("{k}: {v}\n"));
        }
        write_private(path, &out)?;
    }
    Ok(map)
}

/// Kolla's admin-openrc.sh for `auth_url` (no `/v3` suffix, as Kolla writes it).
pub fn admin_openrc(auth_url: &str, password: &str, region: &str) -> String {
    format!(
        "# rustack (Kolla post-deploy format)\n\n\
# Clear any old environment that may conflict.\n\
for key in $( set | awk '{{FS=\"=\"}}  /^OS_/ {{print $1}}' ); do unset $key ; done\n\
export OS_PROJECT_DOMAIN_NAME='Default'\n\
export OS_USER_DOMAIN_NAME='Default'\n\
export OS_PROJECT_NAME='admin'\n\
export OS_TENANT_NAME='admin'\n\
export OS_USERNAME='admin'\n\
export OS_PASSWORD='{password}'\n\
export OS_AUTH_URL='{auth_url}'\n\
export OS_INTERFACE='internal'\n\
export OS_ENDPOINT_TYPE='internalURL'\n\
export OS_IDENTITY_API_VERSION='3'\n\
export OS_REGION_NAME='{region}'\n\
export OS_AUTH_PLUGIN='password'\n"
    )
}

/// Kolla's clouds.yaml with rustack's cloud names (`rustack-admin`, `rustack-admin-system`).
pub fn clouds_yaml(auth_url: &str, password: &str, region: &str) -> String {
    format!(
        "clouds:\n\
\x20 rustack-admin:\n\
\x20   auth:\n\
\x20     auth_url: {auth_url}\n\
\x20     project_domain_name: Default\n\
\x20     user_domain_name: Default\n\
\x20     project_name: admin\n\
\x20     username: admin\n\
\x20     password: {password}\n\
\x20   region_name: {region}\n\
\x20 rustack-admin-system:\n\
\x20   auth:\n\
\x20     auth_url: {auth_url}\n\
\x20     user_domain_name: Default\n\
\x20     system_scope: all\n\
\x20     username: admin\n\
\x20     password: {password}\n\
\x20   region_name: {region}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn passwords_are_generated_once_and_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("passwords.yml");
        let a = ensure_passwords(&p).expect("first");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(a["keystone_admin_password"].len(), 40);
        let b = ensure_passwords(&p).expect("second");
        assert_eq!(a, b, "restart must not regenerate secrets");
    }

    #[test]
    fn clouds_yaml_parses() {
        let y: serde_yaml::Value =
            serde_yaml::from_str(&clouds_yaml("http://127.0.0.1:5000", "pw", "RegionOne"))
                .expect("yaml");
        assert_eq!(y["clouds"]["rustack-admin"]["auth"]["username"], "admin");
        assert_eq!(
            y["clouds"]["rustack-admin-system"]["auth"]["system_scope"],
            "all"
        );
    }
}
