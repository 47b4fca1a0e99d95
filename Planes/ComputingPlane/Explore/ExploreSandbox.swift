import Foundation

/// An Explore session's view of the world, as bubblewrap options: the job sandbox's isolation (every namespace
/// new, so only loopback; no capability; an empty environment; seccomp added by the launch stub) with JupyterLab
/// from the explore runtime instead of a job. Only these paths exist besides /usr, /proc, /dev and /tmp: the
/// explore runtime read-only, the sample read-only at /data, the Jupyter settings read-only, the private home
/// (a size-limited tmpfs the host mounted for the session's uid) and the directory holding Jupyter's socket.
public struct ExploreSandbox: Sendable, Hashable {
    /// The explore runtime venv (read-only at its build path, so its scripts work).
    public var runtime: String
    /// The sample directory (read-only at /data).
    public var sample: String
    /// The host directory holding `jupyter_server_config.json` (read-only at /etc/delong-jupyter).
    public var config: String
    /// The host directory of the home tmpfs (writable at /home/explorer).
    public var home: String
    /// The 0700 host directory that holds only Jupyter's socket (writable at /run/jupyter).
    public var socketDirectory: String
    /// The size of the private /tmp tmpfs.
    public var tmpBytes: UInt64

    public init(
        runtime: String,
        sample: String,
        config: String,
        home: String,
        socketDirectory: String,
        tmpBytes: UInt64
    ) {
        self.runtime = runtime
        self.sample = sample
        self.config = config
        self.home = home
        self.socketDirectory = socketDirectory
        self.tmpBytes = tmpBytes
    }

    /// Where the runtime appears inside (the path it was built at).
    public static let runtimeMountPoint = RuntimeLayout.explore.venv
    public static let homeMountPoint = "/home/explorer"
    public static let configMountPoint = "/etc/delong-jupyter"
    public static let socketMountPoint = "/run/jupyter"
    /// The socket's name in the socket directory.
    public static let socketName = "jupyter.sock"

    /// bubblewrap's arguments (without `--seccomp`, which the launch stub adds), `--`, and JupyterLab's command.
    /// Nothing secret is here: the token is in the config file.
    public func arguments(statusFD: Int32) -> [String] {
        var a = Bubblewrap.isolation(hostname: "explore", tmpBytes: tmpBytes)
        a += [
            "--ro-bind", runtime, Self.runtimeMountPoint,
            "--ro-bind", sample, "/data",
            "--ro-bind", config, Self.configMountPoint,
            "--bind", home, Self.homeMountPoint,
            "--bind", socketDirectory, Self.socketMountPoint,
            "--setenv", "PATH", "\(Self.runtimeMountPoint)/bin:/usr/bin:/bin",
            "--setenv", "HOME", Self.homeMountPoint, "--setenv", "USER", "explorer", "--setenv", "LOGNAME", "explorer",
            "--setenv", "TMPDIR", "/tmp", "--setenv", "LANG", "C.UTF-8",
            "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib", "--setenv", "IPYTHONDIR", "/tmp/ipython",
            "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
            // Jupyter reads its settings here; its runtime files (kernel connection keys) stay in /tmp, so the
            // home holds only what the consumer saves.
            "--setenv", "JUPYTER_CONFIG_DIR", Self.configMountPoint,
            "--setenv", "JUPYTER_RUNTIME_DIR", "/tmp/jupyter-runtime",
            "--setenv", "JUPYTER_DATA_DIR", "/tmp/jupyter-data",
            "--setenv", "JUPYTER_PLATFORM_DIRS", "1",
            "--chdir", Self.homeMountPoint, "--json-status-fd", "\(statusFD)", "--",
            Self.runtimeMountPoint + "/bin/python3", "-I", "-B", "-m", "jupyterlab", "--no-browser",
        ]
        return a
    }

    /// `jupyter_server_config.json`: the token, the UNIX socket (mode 0600, no TCP port), the base URL, terminals
    /// off, no network-facing Lab features, and Jupyter's own kernel culler as a second layer behind the host's.
    /// Written 0400 for the session uid; never in argv or the environment.
    public static func jupyterConfig(token: String, basePath: String, idleSeconds: Int) -> [UInt8] {
        let config: [String: Any] = [
            "IdentityProvider": ["token": token],
            "ServerApp": [
                "sock": socketMountPoint + "/" + socketName, "sock_mode": "0600", "base_url": basePath,
                // Kernels talk ZMQ on the sandbox's own loopback; the sandbox has no /etc/hosts to resolve localhost.
                "ip": "127.0.0.1", "root_dir": homeMountPoint, "terminals_enabled": false, "open_browser": false,
                // INFO would print the server's URL with the token in it.
                "log_level": "WARN",
                // Only the Lab: no language servers (jupyter_lsp scans the PATH at start), no terminals, no
                // classic-notebook shim. Less to import (a faster start) and less to attack.
                "jpserver_extensions": [
                    "jupyter_lsp": false, "jupyter_server_terminals": false, "notebook_shim": false,
                ],
                // The explore runtime is read-only: no Lab build can happen, so the page does not ask whether
                // one is due (that request took half a second of every Lab load).
                "tornado_settings": ["page_config_data": ["buildCheck": false, "buildAvailable": false]],
            ],
            "MappingKernelManager": [
                "cull_idle_timeout": idleSeconds, "cull_interval": max(1, min(60, idleSeconds / 2)),
                "cull_connected": true,
            ],
            // The default 1 MB/s replaces a large print with a warning; the proxy relays frames up to 16 MiB.
            "ZMQChannelsWebsocketConnection": ["iopub_data_rate_limit": 1e10],
            "LabApp": [
                "news_url": NSNull(), "extension_manager": "readonly",
                "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
            ],
        ]
        // A dictionary of strings, numbers, booleans and null always serializes.
        return Array(try! JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]))
    }
}
