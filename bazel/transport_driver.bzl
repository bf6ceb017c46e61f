"""sb_transport_driver: one transport driver, its registration and its tests.

A driver is one folder under services/mq-bridge/transport/. Its sources
register it by name with SB_REGISTER_TRANSPORT (registry.h); this macro
makes that registration survive linking and runs the Transport conformance
suite against it:

  <name>       the driver's cc_library, alwayslink (its static
               initializer is its only reference). Visible to its own
               package and the transport package, whose :all_drivers
               links every driver (plus `visibility`).
  <name>_transport_test
               the driver's tests (`test_srcs`), linked with the
               conformance suite. A test source instantiates
               TransportConformanceTest with the driver's
               TransportUnderTest; the suite skips only what the driver's
               Capabilities declare absent.

Adding a driver: a folder with a BUILD calling this macro, and one line in
//services/mq-bridge/transport:all_drivers.
"""

def sb_transport_driver(
        name,
        srcs,
        hdrs,
        deps = [],
        test_srcs = [],
        test_deps = [],
        test_data = [],
        test_size = "medium",
        test_tags = [],
        visibility = []):
    native.cc_library(
        name = name,
        srcs = srcs,
        hdrs = hdrs,
        alwayslink = 1,
        deps = deps + [
            "//services/mq-bridge/transport",
            "//services/mq-bridge/transport:registry",
        ],
        visibility = [
            "//services/mq-bridge/transport:__pkg__",
        ] + visibility,
    )
    native.cc_test(
        name = name + "_transport_test",
        size = test_size,
        srcs = test_srcs,
        data = test_data,
        tags = test_tags,
        deps = test_deps + [
            ":" + name,
            "//services/mq-bridge/transport/conformance",
            "@system//:gtest_main",
        ],
    )
