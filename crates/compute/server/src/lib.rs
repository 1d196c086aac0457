//! The Compute service (Nova v2.1 API): flavors, keypairs, servers and their actions,
//! the scheduler and the build, driving a `rustack-virt` compute driver.
