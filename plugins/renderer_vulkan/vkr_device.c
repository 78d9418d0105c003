/* The Vulkan instance and device: the validation layer and its messages
 * (each one logged as an error and counted), the choice of a device
 * (discrete > integrated > virtual > CPU, or the one [renderer] device
 * names), and the refusal, with the reason, of a device that lacks what
 * keel needs. */
#include <ctype.h>
#if defined(KEEL_SANITIZER_ASAN)
#include <dlfcn.h>
#include <link.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vkr.h"

#define VKR_VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

void vkr_log(const keel_host *host, keel_log_level level, const char *fmt, ...) {
  if (!host || !KEEL_HAS_MEMBER(host, keel_host, log) || !host->log) return;
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  host->log(host, level, "%s", text);
}

const char *vkr_result_name(VkResult r) {
  switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_INCOMPLETE: return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FORMAT_NOT_SUPPORTED: return "VK_ERROR_FORMAT_NOT_SUPPORTED";
    case VK_ERROR_SURFACE_LOST_KHR: return "VK_ERROR_SURFACE_LOST_KHR";
    case VK_ERROR_OUT_OF_DATE_KHR: return "VK_ERROR_OUT_OF_DATE_KHR";
    case VK_SUBOPTIMAL_KHR: return "VK_SUBOPTIMAL_KHR";
    default: break;
  }
  return "VkResult (unnamed)";
}

static void set_error(keel_message *error, const char *fmt, ...) VKR_PRINTF(2, 3);
static void set_error(keel_message *error, const char *fmt, ...) {
  if (!error) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error->text, sizeof error->text, fmt, ap);
  va_end(ap);
}

/* Validation messages: any thread (the layer calls back from the thread
 * that made the Vulkan call). Each is an error in the engine log. */
static VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                       VkDebugUtilsMessageTypeFlagsEXT types,
                                                       const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
  (void)types;
  vkr_device *d = user;
  if (severity < VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) return VK_FALSE;
  atomic_fetch_add_explicit(&d->debug_messages, 1, memory_order_relaxed);
  vkr_log(d->host, KEEL_LOG_ERROR, "vulkan validation %s: %s",
          severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning",
          data && data->pMessage ? data->pMessage : "(no message)");
  return VK_FALSE; /* never abort the call */
}

static bool layer_present(const char *name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return false;
  VkLayerProperties *props = calloc(n, sizeof *props);
  bool found = false;
  if (props && vkEnumerateInstanceLayerProperties(&n, props) == VK_SUCCESS)
    for (uint32_t i = 0; i < n && !found; i++) found = strcmp(props[i].layerName, name) == 0;
  free(props);
  return found;
}

static bool instance_extension_present(const char *layer, const char *name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS || n == 0) return false;
  VkExtensionProperties *props = calloc(n, sizeof *props);
  bool found = false;
  if (props && vkEnumerateInstanceExtensionProperties(layer, &n, props) == VK_SUCCESS)
    for (uint32_t i = 0; i < n && !found; i++) found = strcmp(props[i].extensionName, name) == 0;
  free(props);
  return found;
}

static bool device_extension_present(VkPhysicalDevice pd, const char *name) {
  uint32_t n = 0;
  if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || n == 0) return false;
  VkExtensionProperties *props = calloc(n, sizeof *props);
  bool found = false;
  if (props && vkEnumerateDeviceExtensionProperties(pd, NULL, &n, props) == VK_SUCCESS)
    for (uint32_t i = 0; i < n && !found; i++) found = strcmp(props[i].extensionName, name) == 0;
  free(props);
  return found;
}

static keel_result create_instance(vkr_device *d, keel_validation validation, bool windowed, keel_message *error) {
  uint32_t loader_version = VK_API_VERSION_1_0;
  vkEnumerateInstanceVersion(&loader_version);
  if (loader_version < VK_API_VERSION_1_1) {
    set_error(error, "the Vulkan loader offers %u.%u; keel needs Vulkan 1.1", VK_API_VERSION_MAJOR(loader_version),
              VK_API_VERSION_MINOR(loader_version));
    return KEEL_ERR_UNSUPPORTED;
  }
  const char *layers[1];
  const char *extensions[2 + 16];
  uint32_t layer_count = 0, extension_count = 0;
  if (windowed) {
    /* What presenting to the host's window needs (VK_KHR_surface and the
     * window system's surface extension), from the host: only it knows the
     * window system. */
    uint32_t n = 0;
    const char *const *wanted = d->host->platform_vulkan_instance_extensions(d->host, &n);
    if (!wanted || n == 0 || n > 16) {
      set_error(error, "windowed: the host names no Vulkan instance extensions for its window (%u): this Vulkan "
                       "driver cannot present to it",
                n);
      return KEEL_ERR_UNSUPPORTED;
    }
    for (uint32_t i = 0; i < n; i++) {
      if (!instance_extension_present(NULL, wanted[i])) {
        set_error(error, "windowed: the Vulkan instance lacks %s, which the window needs", wanted[i]);
        return KEEL_ERR_UNSUPPORTED;
      }
      extensions[extension_count++] = wanted[i];
    }
  }
  bool want = validation != KEEL_VALIDATION_OFF;
  bool have = want && layer_present(VKR_VALIDATION_LAYER) &&
              instance_extension_present(VKR_VALIDATION_LAYER, VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  if (want && !have) {
    if (validation == KEEL_VALIDATION_REQUIRED) {
      set_error(error,
                "[renderer] validation = on, but the Vulkan layer %s is not installed (Debian package "
                "vulkan-validationlayers)",
                VKR_VALIDATION_LAYER);
      return KEEL_ERR_UNSUPPORTED;
    }
    vkr_log(d->host, KEEL_LOG_WARN,
            "validation: %s is not installed (Debian package vulkan-validationlayers); running without it",
            VKR_VALIDATION_LAYER);
  }
  bool sync_validation = false;
  if (have) {
    layers[layer_count++] = VKR_VALIDATION_LAYER;
    extensions[extension_count++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    /* Synchronization validation too: the frames-in-flight design is
     * exactly what it checks. */
    if (instance_extension_present(VKR_VALIDATION_LAYER, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME)) {
      extensions[extension_count++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
      sync_validation = true;
    }
  }
  VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "keel",
                           .pEngineName = "keel", .apiVersion = VK_API_VERSION_1_1};
  VkDebugUtilsMessengerCreateInfoEXT messenger_info = {
      .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
      .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
      .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
      .pfnUserCallback = on_debug_message,
      .pUserData = d};
  static const VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  VkValidationFeaturesEXT features = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                      .pNext = &messenger_info,
                                      .enabledValidationFeatureCount = 1,
                                      .pEnabledValidationFeatures = enables};
  VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                             .pNext = have ? (sync_validation ? (const void *)&features : (const void *)&messenger_info)
                                           : NULL,
                             .pApplicationInfo = &app,
                             .enabledLayerCount = layer_count,
                             .ppEnabledLayerNames = layers,
                             .enabledExtensionCount = extension_count,
                             .ppEnabledExtensionNames = extensions};
  VkResult res = vkCreateInstance(&ci, NULL, &d->instance);
  if (res != VK_SUCCESS) {
    set_error(error, "vkCreateInstance failed: %s%s", vkr_result_name(res),
              res == VK_ERROR_INCOMPATIBLE_DRIVER ? " (no Vulkan driver: install mesa-vulkan-drivers for lavapipe)" : "");
    return res == VK_ERROR_OUT_OF_HOST_MEMORY ? KEEL_ERR_OUT_OF_MEMORY : KEEL_ERR_BACKEND;
  }
  if (have) {
    PFN_vkCreateDebugUtilsMessengerEXT create_messenger =
        (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(d->instance, "vkCreateDebugUtilsMessengerEXT");
    if (!create_messenger || create_messenger(d->instance, &messenger_info, NULL, &d->messenger) != VK_SUCCESS) {
      set_error(error, "vkCreateDebugUtilsMessengerEXT failed: validation messages could not be received");
      return KEEL_ERR_BACKEND;
    }
    d->validation = true;
  }
  if (windowed) {
    uint64_t surface = 0;
    keel_result kr = d->host->platform_vulkan_create_surface(d->host, d->instance, NULL, &surface);
    if (kr != KEEL_OK || !surface) {
      set_error(error, "windowed: the host could not make a Vulkan surface for its window (%s)", keel_result_name(kr));
      return kr != KEEL_OK ? kr : KEEL_ERR_BACKEND;
    }
    d->surface = (VkSurfaceKHR)(uintptr_t)surface;
  }
  return KEEL_OK;
}

static const char *type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
  }
}

/* Lower is better: discrete > integrated > virtual > CPU > other. */
static int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

static bool format_has(VkPhysicalDevice pd, VkFormat f, VkFormatFeatureFlags want) {
  VkFormatProperties p;
  vkGetPhysicalDeviceFormatProperties(pd, f, &p);
  return (p.optimalTilingFeatures & want) == want;
}

/* What keel needs of a device; false with the reason when it lacks it. */
static bool device_suitable(VkPhysicalDevice pd, VkSurfaceKHR surface, uint32_t *family, VkFormat *depth, char *why,
                            size_t cap) {
  VkPhysicalDeviceProperties p;
  vkGetPhysicalDeviceProperties(pd, &p);
  if (p.apiVersion < VK_API_VERSION_1_1) {
    snprintf(why, cap, "Vulkan %u.%u, keel needs 1.1", VK_API_VERSION_MAJOR(p.apiVersion),
             VK_API_VERSION_MINOR(p.apiVersion));
    return false;
  }
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
  VkQueueFamilyProperties q[32];
  if (n > 32) n = 32;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
  *family = UINT32_MAX;
  for (uint32_t i = 0; i < n && *family == UINT32_MAX; i++) {
    VkBool32 presents = VK_TRUE;
    if (surface && vkGetPhysicalDeviceSurfaceSupportKHR(pd, i, surface, &presents) != VK_SUCCESS) presents = VK_FALSE;
    if ((q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) && q[i].queueCount > 0 && presents) *family = i;
  }
  if (*family == UINT32_MAX) {
    snprintf(why, cap, surface ? "no graphics queue that can present to the window" : "no graphics queue");
    return false;
  }
  if (surface && !device_extension_present(pd, VK_KHR_SWAPCHAIN_EXTENSION_NAME)) {
    snprintf(why, cap, "no %s", VK_KHR_SWAPCHAIN_EXTENSION_NAME);
    return false;
  }
  if (!format_has(pd, VK_FORMAT_R8G8B8A8_UNORM,
                  VK_FORMAT_FEATURE_COLOR_ATTACHMENT_BIT | VK_FORMAT_FEATURE_TRANSFER_SRC_BIT)) {
    snprintf(why, cap, "R8G8B8A8_UNORM cannot be a colour attachment that is copied from");
    return false;
  }
  static const VkFormat depths[] = {VK_FORMAT_D32_SFLOAT, VK_FORMAT_D32_SFLOAT_S8_UINT, VK_FORMAT_D24_UNORM_S8_UINT};
  *depth = VK_FORMAT_UNDEFINED;
  for (size_t i = 0; i < sizeof depths / sizeof depths[0] && *depth == VK_FORMAT_UNDEFINED; i++)
    if (format_has(pd, depths[i], VK_FORMAT_FEATURE_DEPTH_STENCIL_ATTACHMENT_BIT)) *depth = depths[i];
  if (*depth == VK_FORMAT_UNDEFINED) {
    snprintf(why, cap, "no 24- or 32-bit depth attachment format");
    return false;
  }
  if (p.limits.maxPushConstantsSize < 128 || p.limits.maxVertexInputAttributes < 7) {
    snprintf(why, cap, "push constants %u bytes and %u vertex attributes, keel needs 128 and 7",
             p.limits.maxPushConstantsSize, p.limits.maxVertexInputAttributes);
    return false;
  }
  return true;
}

static bool name_matches(const char *name, const char *want) {
  size_t n = strlen(want);
  for (const char *s = name; *s; s++) {
    size_t i = 0;
    while (i < n && s[i] && tolower((unsigned char)s[i]) == tolower((unsigned char)want[i])) i++;
    if (i == n) return true;
  }
  return n == 0;
}

static bool parse_index(const char *s, uint32_t *out) {
  if (!*s) return false;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9' || v > 100000) return false;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  *out = (uint32_t)v;
  return true;
}

static keel_result pick_device(vkr_device *d, const char *pref, keel_message *error) {
  uint32_t n = 0;
  VkResult res = vkEnumeratePhysicalDevices(d->instance, &n, NULL);
  if (res != VK_SUCCESS || n == 0) {
    set_error(error, "no Vulkan device (vkEnumeratePhysicalDevices: %s, %u devices; install mesa-vulkan-drivers "
                     "for lavapipe)", vkr_result_name(res), n);
    return KEEL_ERR_UNSUPPORTED;
  }
  VkPhysicalDevice devices[16];
  if (n > 16) n = 16;
  vkEnumeratePhysicalDevices(d->instance, &n, devices);
  bool named = pref && *pref;
  uint32_t index = UINT32_MAX;
  bool by_index = named && parse_index(pref, &index);
  int best_rank = 99;
  char refusals[512] = "", list[512] = "";
  size_t used = 0, listed = 0;
  for (uint32_t i = 0; i < n; i++) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(devices[i], &p);
    listed += (size_t)snprintf(list + listed, listed < sizeof list ? sizeof list - listed : 0, "%s%u: %s",
                               i ? ", " : "", i, p.deviceName);
    if (listed >= sizeof list) listed = sizeof list - 1;
    if (named && (by_index ? i != index : !name_matches(p.deviceName, pref))) continue;
    uint32_t family;
    VkFormat depth;
    char why[160];
    if (!device_suitable(devices[i], d->surface, &family, &depth, why, sizeof why)) {
      vkr_log(d->host, KEEL_LOG_WARN, "device %u (%s) refused: %s", i, p.deviceName, why);
      used += (size_t)snprintf(refusals + used, used < sizeof refusals ? sizeof refusals - used : 0, "%s%s: %s",
                               used ? "; " : "", p.deviceName, why);
      if (used >= sizeof refusals) used = sizeof refusals - 1;
      continue;
    }
    int rank = type_rank(p.deviceType);
    if (rank < best_rank) {
      best_rank = rank;
      d->physical = devices[i];
      d->queue_family = family;
      d->depth_format = depth;
    }
  }
  if (d->physical) return KEEL_OK;
  if (named && !used)
    set_error(error, "[renderer] device = '%s' matches no Vulkan device (devices: %s)", pref, list);
  else
    set_error(error, "no Vulkan device has what keel needs: %s", refusals);
  return KEEL_ERR_UNSUPPORTED;
}

static void describe_device(vkr_device *d) {
  const VkPhysicalDeviceProperties *p = &d->props;
  char driver[560] = "";
  if (p->apiVersion >= VK_API_VERSION_1_2 || device_extension_present(d->physical, "VK_KHR_driver_properties")) {
    VkPhysicalDeviceDriverProperties dp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &dp};
    vkGetPhysicalDeviceProperties2(d->physical, &p2);
    snprintf(driver, sizeof driver, "driver %s %s", dp.driverName, dp.driverInfo);
  } else {
    snprintf(driver, sizeof driver, "driver version 0x%x", p->driverVersion);
  }
  snprintf(d->description, sizeof d->description, "%s (%s, Vulkan %u.%u.%u, %s)", p->deviceName,
           type_name(p->deviceType), VK_API_VERSION_MAJOR(p->apiVersion), VK_API_VERSION_MINOR(p->apiVersion),
           VK_API_VERSION_PATCH(p->apiVersion), driver);
}

#if defined(KEEL_SANITIZER_ASAN)
/* ASan builds only: the Vulkan loader unloads the driver and the layers at
 * vkDestroyInstance, and LeakSanitizer then sees what their globals still
 * held as leaks from "<unknown module>", which no suppression can name.
 * Pinned, they stay loaded until exit, their globals stay reachable, and
 * the validation layer's own leaks can be suppressed by its name
 * (tests/sanitizers/lsan.supp). */
static int pin_vulkan_module(struct dl_phdr_info *info, size_t size, void *user) {
  (void)size, (void)user;
  const char *name = info->dlpi_name;
  if (name && (strstr(name, "libvulkan") || strstr(name, "libVkLayer"))) {
    void *h = dlopen(name, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    if (h) dlclose(h); /* NODELETE stays */
  }
  return 0;
}
#endif

keel_result vkr_device_create(vkr_device *d, const keel_host *host, const char *device_pref,
                              keel_validation validation, bool windowed, keel_message *error) {
  memset(d, 0, sizeof *d);
  d->host = host;
  keel_result r = create_instance(d, validation, windowed, error);
  if (r == KEEL_OK) r = pick_device(d, device_pref, error);
  if (r != KEEL_OK) {
    vkr_device_destroy(d);
    return r;
  }
  vkGetPhysicalDeviceProperties(d->physical, &d->props);
  vkGetPhysicalDeviceMemoryProperties(d->physical, &d->memory);
  describe_device(d);
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo q = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                               .queueFamilyIndex = d->queue_family,
                               .queueCount = 1,
                               .pQueuePriorities = &priority};
  const char *swapchain = VK_KHR_SWAPCHAIN_EXTENSION_NAME;
  VkDeviceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .queueCreateInfoCount = 1,
                           .pQueueCreateInfos = &q, .enabledExtensionCount = d->surface ? 1u : 0u,
                           .ppEnabledExtensionNames = d->surface ? &swapchain : NULL};
  VkResult res = vkCreateDevice(d->physical, &ci, NULL, &d->device);
  if (res != VK_SUCCESS) {
    set_error(error, "vkCreateDevice failed on %s: %s", d->description, vkr_result_name(res));
    vkr_device_destroy(d);
    return res == VK_ERROR_OUT_OF_HOST_MEMORY || res == VK_ERROR_OUT_OF_DEVICE_MEMORY ? KEEL_ERR_OUT_OF_MEMORY
                                                                                      : KEEL_ERR_BACKEND;
  }
  vkGetDeviceQueue(d->device, d->queue_family, 0, &d->queue);
  return KEEL_OK;
}

void vkr_device_destroy(vkr_device *d) {
#if defined(KEEL_SANITIZER_ASAN)
  /* Everything the loader will unload is loaded now. */
  if (d->instance) dl_iterate_phdr(pin_vulkan_module, NULL);
#endif
  if (d->device) vkDestroyDevice(d->device, NULL);
  if (d->surface) vkDestroySurfaceKHR(d->instance, d->surface, NULL);
  if (d->messenger) {
    PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger =
        (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(d->instance, "vkDestroyDebugUtilsMessengerEXT");
    if (destroy_messenger) destroy_messenger(d->instance, d->messenger, NULL);
  }
  if (d->instance) vkDestroyInstance(d->instance, NULL);
  d->surface = VK_NULL_HANDLE;
  d->device = VK_NULL_HANDLE;
  d->messenger = VK_NULL_HANDLE;
  d->instance = VK_NULL_HANDLE;
}

uint32_t vkr_memory_type(const vkr_device *d, uint32_t type_bits, VkMemoryPropertyFlags want) {
  for (uint32_t i = 0; i < d->memory.memoryTypeCount; i++)
    if ((type_bits & (1u << i)) && (d->memory.memoryTypes[i].propertyFlags & want) == want) return i;
  return UINT32_MAX;
}

VkResult vkr_buffer_create(const vkr_device *d, VkDeviceSize size, VkBufferUsageFlags usage,
                           VkMemoryPropertyFlags want, VkMemoryPropertyFlags prefer, vkr_buffer *out) {
  memset(out, 0, sizeof *out);
  VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size, .usage = usage,
                           .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  VkResult res = vkCreateBuffer(d->device, &bi, NULL, &out->buffer);
  if (res != VK_SUCCESS) return res;
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(d->device, out->buffer, &req);
  uint32_t type = vkr_memory_type(d, req.memoryTypeBits, want | prefer);
  if (type == UINT32_MAX) type = vkr_memory_type(d, req.memoryTypeBits, want);
  if (type == UINT32_MAX) {
    vkDestroyBuffer(d->device, out->buffer, NULL);
    out->buffer = VK_NULL_HANDLE;
    return VK_ERROR_OUT_OF_DEVICE_MEMORY;
  }
  VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                             .memoryTypeIndex = type};
  res = vkAllocateMemory(d->device, &ai, NULL, &out->memory);
  if (res == VK_SUCCESS) res = vkBindBufferMemory(d->device, out->buffer, out->memory, 0);
  if (res == VK_SUCCESS && (d->memory.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
    res = vkMapMemory(d->device, out->memory, 0, VK_WHOLE_SIZE, 0, &out->mapped);
  if (res != VK_SUCCESS) {
    vkr_buffer_destroy(d, out);
    return res;
  }
  out->size = size;
  return VK_SUCCESS;
}

void vkr_buffer_destroy(const vkr_device *d, vkr_buffer *b) {
  if (b->buffer) vkDestroyBuffer(d->device, b->buffer, NULL);
  if (b->memory) vkFreeMemory(d->device, b->memory, NULL);
  memset(b, 0, sizeof *b);
}
