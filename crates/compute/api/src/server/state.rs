//! The instance state machine as Nova exposes it: `vm_state` (stable state),
//! `task_state` (the operation in flight) and `power_state` (what the hypervisor
//! reports), the API `status` derived from them (`nova/api/openstack/common.py`), the
//! reverse mapping used by the `status` list filter, and the guards that decide which
//! action may start in which state (`check_instance_state` in `nova/compute/api.py`).
//!
//! Everything here is pure: the server crate persists the states and calls these
//! functions to decide transitions.

use std::fmt;

/// Nova's `vm_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VmState {
    /// Running (or runnable).
    Active,
    /// Being built.
    Building,
    /// Paused.
    Paused,
    /// Suspended.
    Suspended,
    /// Powered off.
    Stopped,
    /// In rescue mode.
    Rescued,
    /// Resized, waiting for confirm or revert.
    Resized,
    /// Soft-deleted.
    SoftDeleted,
    /// Deleted.
    Deleted,
    /// Failed.
    Error,
    /// Shelved.
    Shelved,
    /// Shelved and offloaded.
    ShelvedOffloaded,
}

impl VmState {
    /// Every state, for exhaustive tests and reverse mappings.
    pub const ALL: [VmState; 12] = [
        VmState::Active,
        VmState::Building,
        VmState::Paused,
        VmState::Suspended,
        VmState::Stopped,
        VmState::Rescued,
        VmState::Resized,
        VmState::SoftDeleted,
        VmState::Deleted,
        VmState::Error,
        VmState::Shelved,
        VmState::ShelvedOffloaded,
    ];

    /// The wire/database name (`active`, `building`, `soft-delete`...).
    pub fn as_str(self) -> &'static str {
        match self {
            VmState::Active => "active",
            VmState::Building => "building",
            VmState::Paused => "paused",
            VmState::Suspended => "suspended",
            VmState::Stopped => "stopped",
            VmState::Rescued => "rescued",
            VmState::Resized => "resized",
            VmState::SoftDeleted => "soft-delete",
            VmState::Deleted => "deleted",
            VmState::Error => "error",
            VmState::Shelved => "shelved",
            VmState::ShelvedOffloaded => "shelved_offloaded",
        }
    }

    /// The state for a wire/database name.
    pub fn parse(s: &str) -> Option<Self> {
        VmState::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for VmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Nova's `task_state` (the subset rustack enters, plus the ones the status map names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskState {
    /// Choosing a host.
    Scheduling,
    /// Allocating ports.
    Networking,
    /// Fetching the image and booting.
    Spawning,
    /// Snapshot requested.
    ImageSnapshot,
    /// Snapshot being uploaded.
    ImageUploading,
    /// Resize: preparing.
    ResizePrep,
    /// Resize: moving disks.
    ResizeMigrating,
    /// Resize: disks moved.
    ResizeMigrated,
    /// Resize: finishing on the destination.
    ResizeFinish,
    /// Revert resize in progress.
    ResizeReverting,
    /// Confirm resize in progress.
    ResizeConfirming,
    /// Soft reboot.
    Rebooting,
    /// Hard reboot.
    RebootingHard,
    /// Pausing.
    Pausing,
    /// Unpausing.
    Unpausing,
    /// Suspending.
    Suspending,
    /// Resuming.
    Resuming,
    /// Stopping.
    PoweringOff,
    /// Starting.
    PoweringOn,
    /// Rebuilding.
    Rebuilding,
    /// Rebuild: spawning the new disk.
    RebuildSpawning,
    /// Live migration.
    Migrating,
    /// Being deleted.
    Deleting,
    /// Changing the admin password.
    UpdatingPassword,
    /// Shelve requested.
    Shelving,
    /// Shelve: guest off, snapshot pending.
    ShelvingImagePendingUpload,
    /// Shelve: snapshot being uploaded.
    ShelvingImageUploading,
    /// Shelve offload: removing the guest from its host.
    ShelvingOffloading,
    /// Unshelve in progress.
    Unshelving,
    /// Rescue in progress.
    Rescuing,
    /// Unrescue in progress.
    Unrescuing,
}

impl TaskState {
    /// Every task state.
    pub const ALL: [TaskState; 31] = [
        TaskState::Scheduling,
        TaskState::Networking,
        TaskState::Spawning,
        TaskState::ImageSnapshot,
        TaskState::ImageUploading,
        TaskState::ResizePrep,
        TaskState::ResizeMigrating,
        TaskState::ResizeMigrated,
        TaskState::ResizeFinish,
        TaskState::ResizeReverting,
        TaskState::ResizeConfirming,
        TaskState::Rebooting,
        TaskState::RebootingHard,
        TaskState::Pausing,
        TaskState::Unpausing,
        TaskState::Suspending,
        TaskState::Resuming,
        TaskState::PoweringOff,
        TaskState::PoweringOn,
        TaskState::Rebuilding,
        TaskState::RebuildSpawning,
        TaskState::Migrating,
        TaskState::Deleting,
        TaskState::UpdatingPassword,
        TaskState::Shelving,
        TaskState::ShelvingImagePendingUpload,
        TaskState::ShelvingImageUploading,
        TaskState::ShelvingOffloading,
        TaskState::Unshelving,
        TaskState::Rescuing,
        TaskState::Unrescuing,
    ];

    /// The wire/database name (`scheduling`, `rebooting_hard`...).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Scheduling => "scheduling",
            TaskState::Networking => "networking",
            TaskState::Spawning => "spawning",
            TaskState::ImageSnapshot => "image_snapshot",
            TaskState::ImageUploading => "image_uploading",
            TaskState::ResizePrep => "resize_prep",
            TaskState::ResizeMigrating => "resize_migrating",
            TaskState::ResizeMigrated => "resize_migrated",
            TaskState::ResizeFinish => "resize_finish",
            TaskState::ResizeReverting => "resize_reverting",
            TaskState::ResizeConfirming => "resize_confirming",
            TaskState::Rebooting => "rebooting",
            TaskState::RebootingHard => "rebooting_hard",
            TaskState::Pausing => "pausing",
            TaskState::Unpausing => "unpausing",
            TaskState::Suspending => "suspending",
            TaskState::Resuming => "resuming",
            TaskState::PoweringOff => "powering-off",
            TaskState::PoweringOn => "powering-on",
            TaskState::Rebuilding => "rebuilding",
            TaskState::RebuildSpawning => "rebuild_spawning",
            TaskState::Migrating => "migrating",
            TaskState::Deleting => "deleting",
            TaskState::UpdatingPassword => "updating_password",
            TaskState::Shelving => "shelving",
            TaskState::ShelvingImagePendingUpload => "shelving_image_pending_upload",
            TaskState::ShelvingImageUploading => "shelving_image_uploading",
            TaskState::ShelvingOffloading => "shelving_offloading",
            TaskState::Unshelving => "unshelving",
            TaskState::Rescuing => "rescuing",
            TaskState::Unrescuing => "unrescuing",
        }
    }

    /// The task state for a wire/database name.
    pub fn parse(s: &str) -> Option<Self> {
        TaskState::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The API `status` for a state pair (`status_from_state`).
pub fn status(vm: VmState, task: Option<TaskState>) -> &'static str {
    use TaskState as T;
    match (vm, task) {
        (VmState::Active, Some(T::Rebooting)) => "REBOOT",
        (VmState::Active, Some(T::RebootingHard)) => "HARD_REBOOT",
        (VmState::Active, Some(T::UpdatingPassword)) => "PASSWORD",
        (
            VmState::Active | VmState::Stopped | VmState::Error,
            Some(T::Rebuilding | T::RebuildSpawning),
        ) => "REBUILD",
        (VmState::Active | VmState::Paused, Some(T::Migrating)) => "MIGRATING",
        (
            VmState::Active | VmState::Stopped,
            Some(T::ResizePrep | T::ResizeMigrating | T::ResizeMigrated | T::ResizeFinish),
        ) => "RESIZE",
        (VmState::Active, _) => "ACTIVE",
        (VmState::Building, _) => "BUILD",
        (VmState::Stopped, _) => "SHUTOFF",
        (VmState::Resized, Some(T::ResizeReverting)) => "REVERT_RESIZE",
        (VmState::Resized, _) => "VERIFY_RESIZE",
        (VmState::Paused, _) => "PAUSED",
        (VmState::Suspended, _) => "SUSPENDED",
        (VmState::Rescued, _) => "RESCUE",
        (VmState::Error, _) => "ERROR",
        (VmState::Deleted, _) => "DELETED",
        (VmState::SoftDeleted, _) => "SOFT_DELETED",
        (VmState::Shelved, _) => "SHELVED",
        (VmState::ShelvedOffloaded, _) => "SHELVED_OFFLOADED",
    }
}

/// Whether a status reports build/operation progress (Nova shows `progress` only then).
pub fn has_progress(status: &str) -> bool {
    matches!(
        status,
        "ACTIVE" | "BUILD" | "REBUILD" | "RESIZE" | "VERIFY_RESIZE" | "MIGRATING"
    )
}

/// The state pairs whose status equals `wanted` (case-insensitive): the `status` list
/// filter (`task_and_vm_state_from_status`). Empty for an unknown status.
pub fn states_for_status(wanted: &str) -> Vec<(VmState, Option<TaskState>)> {
    let mut out = Vec::new();
    for vm in VmState::ALL {
        let tasks = std::iter::once(None).chain(TaskState::ALL.into_iter().map(Some));
        for task in tasks {
            if status(vm, task).eq_ignore_ascii_case(wanted) {
                out.push((vm, task));
            }
        }
    }
    out
}

/// Every status string the API can show (validating `status` filters from 2.38).
pub fn known_status(s: &str) -> bool {
    !states_for_status(s).is_empty()
        || s.eq_ignore_ascii_case("UNKNOWN")
        || s.eq_ignore_ascii_case("DELETED")
}

/// A server operation subject to state checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `os-stop`.
    Stop,
    /// `os-start`.
    Start,
    /// `reboot` SOFT.
    RebootSoft,
    /// `reboot` HARD.
    RebootHard,
    /// `rebuild`.
    Rebuild,
    /// `resize`.
    Resize,
    /// `confirmResize`.
    ConfirmResize,
    /// `revertResize`.
    RevertResize,
    /// `pause`.
    Pause,
    /// `unpause`.
    Unpause,
    /// `suspend`.
    Suspend,
    /// `resume`.
    Resume,
    /// `createImage`.
    CreateImage,
    /// Server metadata changes.
    UpdateMetadata,
    /// `os-interface` attach/detach.
    Interface,
    /// `DELETE /servers/{id}`.
    Delete,
    /// `shelve` (then offload at once, as `shelved_offload_time = 0`).
    Shelve,
    /// `shelveOffload`.
    ShelveOffload,
    /// `unshelve`.
    Unshelve,
    /// `rescue`.
    Rescue,
    /// `unrescue`.
    Unrescue,
}

impl Action {
    /// Nova's method name used in conflict messages (`Cannot 'stop' instance ...`).
    pub fn method(self) -> &'static str {
        match self {
            Action::Stop => "stop",
            Action::Start => "start",
            Action::RebootSoft | Action::RebootHard => "reboot",
            Action::Rebuild => "rebuild",
            Action::Resize => "resize",
            Action::ConfirmResize => "confirmResize",
            Action::RevertResize => "revertResize",
            Action::Pause => "pause",
            Action::Unpause => "unpause",
            Action::Suspend => "suspend",
            Action::Resume => "resume",
            Action::CreateImage => "createImage",
            Action::UpdateMetadata => "update metadata",
            Action::Interface => "attach_interface",
            Action::Delete => "delete",
            Action::Shelve => "shelve",
            Action::ShelveOffload => "shelveOffload",
            Action::Unshelve => "unshelve",
            Action::Rescue => "rescue",
            Action::Unrescue => "unrescue",
        }
    }

    /// The instance-action name recorded in `os-instance-actions`.
    pub fn record_name(self) -> &'static str {
        match self {
            Action::Stop => "stop",
            Action::Start => "start",
            Action::RebootSoft | Action::RebootHard => "reboot",
            Action::Rebuild => "rebuild",
            Action::Resize => "resize",
            Action::ConfirmResize => "confirmResize",
            Action::RevertResize => "revertResize",
            Action::Pause => "pause",
            Action::Unpause => "unpause",
            Action::Suspend => "suspend",
            Action::Resume => "resume",
            Action::CreateImage => "createImage",
            Action::UpdateMetadata => "updateMetadata",
            Action::Interface => "attach_interface",
            Action::Delete => "delete",
            Action::Shelve => "shelve",
            Action::ShelveOffload => "shelveOffload",
            Action::Unshelve => "unshelve",
            Action::Rescue => "rescue",
            Action::Unrescue => "unrescue",
        }
    }

    /// vm_states the action may start from (`None`: any).
    fn allowed_vm(self) -> Option<&'static [VmState]> {
        use VmState::*;
        Some(match self {
            Action::Stop => &[Active, Error],
            Action::Start => &[Stopped],
            Action::RebootSoft => &[Active],
            Action::RebootHard => &[Active, Stopped, Paused, Suspended, Error],
            Action::Rebuild => &[Active, Stopped, Error],
            Action::Resize => &[Active, Stopped],
            Action::ConfirmResize | Action::RevertResize => &[Resized],
            Action::Pause => &[Active],
            Action::Unpause => &[Paused],
            Action::Suspend => &[Active],
            Action::Resume => &[Suspended],
            Action::CreateImage => &[Active, Stopped, Paused, Suspended],
            Action::UpdateMetadata => &[Active, Building, Paused, Suspended, Stopped],
            Action::Interface => &[Active, Paused, Stopped],
            Action::Shelve => &[Active, Stopped, Paused, Suspended],
            Action::ShelveOffload => &[Shelved],
            Action::Unshelve => &[Shelved, ShelvedOffloaded],
            Action::Rescue => &[Active, Stopped, Error],
            Action::Unrescue => &[Rescued],
            Action::Delete => return None,
        })
    }

    /// Whether the action tolerates an operation already in flight.
    fn allows_task(self, task: Option<TaskState>) -> bool {
        match (self, task) {
            (_, None) | (Action::Delete, _) => true,
            // A hard reboot may interrupt a stuck soft reboot or other power operations.
            (
                Action::RebootHard,
                Some(
                    TaskState::Rebooting
                    | TaskState::RebootingHard
                    | TaskState::Resuming
                    | TaskState::Pausing
                    | TaskState::Unpausing
                    | TaskState::Suspending
                    | TaskState::PoweringOff
                    | TaskState::PoweringOn,
                ),
            ) => true,
            (Action::RebootSoft, Some(TaskState::Rebooting)) => true,
            (Action::UpdateMetadata, Some(_)) => false,
            _ => false,
        }
    }

    /// The task state the action enters (`None`: the action completes synchronously).
    pub fn task(self) -> Option<TaskState> {
        Some(match self {
            Action::Stop => TaskState::PoweringOff,
            Action::Start => TaskState::PoweringOn,
            Action::RebootSoft => TaskState::Rebooting,
            Action::RebootHard => TaskState::RebootingHard,
            Action::Rebuild => TaskState::Rebuilding,
            Action::Resize => TaskState::ResizePrep,
            Action::ConfirmResize => TaskState::ResizeConfirming,
            Action::RevertResize => TaskState::ResizeReverting,
            Action::Pause => TaskState::Pausing,
            Action::Unpause => TaskState::Unpausing,
            Action::Suspend => TaskState::Suspending,
            Action::Resume => TaskState::Resuming,
            Action::CreateImage => TaskState::ImageSnapshot,
            Action::Delete => TaskState::Deleting,
            Action::Shelve => TaskState::Shelving,
            Action::ShelveOffload => TaskState::ShelvingOffloading,
            Action::Unshelve => TaskState::Unshelving,
            Action::Rescue => TaskState::Rescuing,
            Action::Unrescue => TaskState::Unrescuing,
            Action::UpdateMetadata | Action::Interface => return None,
        })
    }

    /// The stable state after the action succeeded, from `from`.
    pub fn outcome(self, from: VmState) -> VmState {
        match self {
            Action::Stop => VmState::Stopped,
            Action::Start
            | Action::RebootSoft
            | Action::RebootHard
            | Action::Unpause
            | Action::Resume => VmState::Active,
            Action::Rebuild => {
                if from == VmState::Stopped {
                    VmState::Stopped
                } else {
                    VmState::Active
                }
            }
            Action::Resize => VmState::Resized,
            Action::ConfirmResize | Action::RevertResize => VmState::Active,
            Action::Pause => VmState::Paused,
            Action::Suspend => VmState::Suspended,
            Action::Delete => VmState::Deleted,
            // With `shelved_offload_time = 0` (DevStack's default) a shelve ends
            // offloaded; the servers work sets SHELVED itself when it keeps the guest.
            Action::Shelve | Action::ShelveOffload => VmState::ShelvedOffloaded,
            Action::Unshelve | Action::Unrescue => VmState::Active,
            Action::Rescue => VmState::Rescued,
            Action::CreateImage | Action::UpdateMetadata | Action::Interface => from,
        }
    }

    /// The power state the guest has after the action succeeded.
    pub fn power_outcome(self, from: VmState, before: u8) -> u8 {
        match self.outcome(from) {
            VmState::Active | VmState::Resized => POWER_RUNNING,
            VmState::Stopped => POWER_SHUTDOWN,
            VmState::Paused => POWER_PAUSED,
            VmState::Suspended => POWER_SUSPENDED,
            VmState::Deleted => POWER_NOSTATE,
            VmState::Rescued => POWER_RUNNING,
            VmState::ShelvedOffloaded | VmState::Shelved => POWER_SHUTDOWN,
            _ => before,
        }
    }
}

/// `power_state` numbers (`nova/compute/power_state.py`).
pub const POWER_NOSTATE: u8 = 0;
/// Running.
pub const POWER_RUNNING: u8 = 1;
/// Paused.
pub const POWER_PAUSED: u8 = 3;
/// Shut down.
pub const POWER_SHUTDOWN: u8 = 4;
/// Crashed.
pub const POWER_CRASHED: u8 = 6;
/// Suspended.
pub const POWER_SUSPENDED: u8 = 7;

/// Why an action may not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidState {
    /// Nova's conflict message.
    pub message: String,
}

/// Checks that `action` may start on instance `uuid` in (`vm`, `task`) — Nova's
/// `check_instance_state`; the message is Nova's `InstanceInvalidState`.
pub fn check(
    action: Action,
    uuid: &str,
    vm: VmState,
    task: Option<TaskState>,
) -> Result<(), InvalidState> {
    if let Some(allowed) = action.allowed_vm() {
        if !allowed.contains(&vm) {
            return Err(InvalidState {
                message: format!(
                    "Cannot '{}' instance {uuid} while it is in vm_state {vm}",
                    action.method()
                ),
            });
        }
    }
    if !action.allows_task(task) {
        let t = task.map(|t| t.as_str()).unwrap_or("None");
        return Err(InvalidState {
            message: format!(
                "Cannot '{}' instance {uuid} while it is in task_state {t}",
                action.method()
            ),
        });
    }
    Ok(())
}

/// What the power-state sync does when the hypervisor reports `power` for an instance
/// whose database says (`vm`, `task`) (Nova's `_sync_instance_power_state`): `None` when
/// nothing changes, else the new (vm_state, power_state). An operation in flight wins.
pub fn sync_power(vm: VmState, task: Option<TaskState>, power: u8) -> Option<(VmState, u8)> {
    if task.is_some() {
        return None;
    }
    match vm {
        VmState::Active | VmState::Paused | VmState::Suspended
            if matches!(power, POWER_SHUTDOWN | POWER_CRASHED | POWER_NOSTATE) =>
        {
            Some((VmState::Stopped, POWER_SHUTDOWN))
        }
        VmState::Active if power == POWER_PAUSED => Some((VmState::Paused, power)),
        VmState::Stopped if power == POWER_RUNNING => {
            // Nova powers such a guest off again; reporting it is the caller's job.
            None
        }
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in VmState::ALL {
            assert_eq!(VmState::parse(v.as_str()), Some(v));
        }
        for t in TaskState::ALL {
            assert_eq!(TaskState::parse(t.as_str()), Some(t));
        }
        assert_eq!(VmState::parse("nope"), None);
    }

    #[test]
    fn status_map_matches_nova() {
        assert_eq!(status(VmState::Active, None), "ACTIVE");
        assert_eq!(
            status(VmState::Building, Some(TaskState::Spawning)),
            "BUILD"
        );
        assert_eq!(
            status(VmState::Active, Some(TaskState::RebootingHard)),
            "HARD_REBOOT"
        );
        assert_eq!(
            status(VmState::Active, Some(TaskState::Rebooting)),
            "REBOOT"
        );
        assert_eq!(
            status(VmState::Stopped, Some(TaskState::Rebuilding)),
            "REBUILD"
        );
        assert_eq!(
            status(VmState::Error, Some(TaskState::Rebuilding)),
            "REBUILD"
        );
        assert_eq!(status(VmState::Stopped, None), "SHUTOFF");
        assert_eq!(
            status(VmState::Stopped, Some(TaskState::PoweringOn)),
            "SHUTOFF"
        );
        assert_eq!(status(VmState::Resized, None), "VERIFY_RESIZE");
        assert_eq!(
            status(VmState::Resized, Some(TaskState::ResizeReverting)),
            "REVERT_RESIZE"
        );
        assert_eq!(
            status(VmState::Active, Some(TaskState::ResizePrep)),
            "RESIZE"
        );
        assert_eq!(
            status(VmState::Paused, Some(TaskState::Migrating)),
            "MIGRATING"
        );
        assert_eq!(
            status(VmState::Paused, Some(TaskState::Rebooting)),
            "PAUSED"
        );
        assert_eq!(status(VmState::Error, Some(TaskState::Spawning)), "ERROR");
        assert_eq!(status(VmState::SoftDeleted, None), "SOFT_DELETED");
        assert_eq!(status(VmState::ShelvedOffloaded, None), "SHELVED_OFFLOADED");
    }

    #[test]
    fn status_filter_is_the_inverse() {
        let active = states_for_status("active");
        assert!(active.contains(&(VmState::Active, None)));
        assert!(active.contains(&(VmState::Active, Some(TaskState::PoweringOff))));
        assert!(!active.contains(&(VmState::Active, Some(TaskState::Rebooting))));
        assert!(states_for_status("non_existing_status").is_empty());
        // Every (vm, task) pair maps into exactly the filter of its own status.
        for vm in VmState::ALL {
            for task in std::iter::once(None).chain(TaskState::ALL.into_iter().map(Some)) {
                let s = status(vm, task);
                assert!(states_for_status(&s.to_lowercase()).contains(&(vm, task)));
            }
        }
        assert!(known_status("SHUTOFF") && known_status("deleted") && !known_status("x"));
    }

    #[test]
    fn guards() {
        let u = "u1";
        assert!(check(Action::Stop, u, VmState::Active, None).is_ok());
        let e = check(Action::Stop, u, VmState::Stopped, None).unwrap_err();
        assert_eq!(
            e.message,
            "Cannot 'stop' instance u1 while it is in vm_state stopped"
        );
        let e = check(Action::Stop, u, VmState::Active, Some(TaskState::Rebooting)).unwrap_err();
        assert_eq!(
            e.message,
            "Cannot 'stop' instance u1 while it is in task_state rebooting"
        );
        assert!(check(Action::Start, u, VmState::Stopped, None).is_ok());
        assert!(check(Action::RebootHard, u, VmState::Stopped, None).is_ok());
        assert!(check(Action::RebootSoft, u, VmState::Stopped, None).is_err());
        assert!(check(
            Action::RebootHard,
            u,
            VmState::Active,
            Some(TaskState::Rebooting)
        )
        .is_ok());
        assert!(check(Action::ConfirmResize, u, VmState::Active, None).is_err());
        assert!(check(
            Action::Delete,
            u,
            VmState::Building,
            Some(TaskState::Spawning)
        )
        .is_ok());
        assert!(check(Action::Unpause, u, VmState::Paused, None).is_ok());
        assert!(check(Action::Resume, u, VmState::Active, None).is_err());
    }

    #[test]
    fn every_action_enters_a_task_its_status_tolerates_and_ends_stable() {
        let actions = [
            Action::Stop,
            Action::Start,
            Action::RebootSoft,
            Action::RebootHard,
            Action::Rebuild,
            Action::Resize,
            Action::ConfirmResize,
            Action::RevertResize,
            Action::Pause,
            Action::Unpause,
            Action::Suspend,
            Action::Resume,
            Action::CreateImage,
        ];
        for a in actions {
            for vm in VmState::ALL {
                if check(a, "u", vm, None).is_err() {
                    continue;
                }
                // A second action of any kind is refused while this one runs, except
                // delete and hard reboot of power operations.
                let t = a.task();
                assert!(t.is_some(), "{a:?}");
                assert!(check(Action::Pause, "u", vm, t).is_err());
                assert!(check(Action::Delete, "u", vm, t).is_ok());
                let after = a.outcome(vm);
                assert_ne!(after, VmState::Building);
                assert!(!status(after, None).is_empty());
            }
        }
        assert_eq!(
            Action::Stop.power_outcome(VmState::Active, 1),
            POWER_SHUTDOWN
        );
        assert_eq!(
            Action::Pause.power_outcome(VmState::Active, 1),
            POWER_PAUSED
        );
        assert_eq!(Action::Rebuild.outcome(VmState::Stopped), VmState::Stopped);
    }

    #[test]
    fn power_sync() {
        assert_eq!(
            sync_power(VmState::Active, None, POWER_SHUTDOWN),
            Some((VmState::Stopped, POWER_SHUTDOWN))
        );
        assert_eq!(
            sync_power(VmState::Active, None, POWER_CRASHED),
            Some((VmState::Stopped, POWER_SHUTDOWN))
        );
        assert_eq!(
            sync_power(VmState::Active, Some(TaskState::PoweringOff), 4),
            None
        );
        assert_eq!(sync_power(VmState::Active, None, POWER_RUNNING), None);
        assert_eq!(sync_power(VmState::Stopped, None, POWER_SHUTDOWN), None);
    }
}
