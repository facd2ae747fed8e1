package dev.lowbit.bindings.opencl;

/**
 * What lowbit needs to know about an OpenCL device.
 *
 * @param platform                 the platform's name and version, e.g. {@code Portable Computing Language, OpenCL 3.0 PoCL 3.1}
 * @param name                     the device's name
 * @param version                  {@code CL_DEVICE_VERSION}
 * @param openClC                  {@code CL_DEVICE_OPENCL_C_VERSION}
 * @param driver                   {@code CL_DRIVER_VERSION}
 * @param gpu                      whether the device type includes {@code CL_DEVICE_TYPE_GPU}
 * @param maxWorkGroupSize         {@code CL_DEVICE_MAX_WORK_GROUP_SIZE}
 * @param denormals                single precision keeps subnormals ({@code CL_FP_DENORM})
 * @param correctlyRoundedDivide   {@code -cl-fp32-correctly-rounded-divide-sqrt} is supported
 * @param littleEndian             {@code CL_DEVICE_ENDIAN_LITTLE}
 */
public record ClDeviceInfo(String platform, String name, String version, String openClC, String driver, boolean gpu,
                           long maxWorkGroupSize, boolean denormals, boolean correctlyRoundedDivide,
                           boolean littleEndian) {

    /** One line for logs and test output. */
    public String describe() {
        return name + " (" + version + ", " + openClC + ", driver " + driver + ") on " + platform;
    }
}
