/* vkr: the Vulkan renderer's internal interface between its three parts:
 * the device (instance, validation messages, device choice, memory), the
 * target (where a frame's pixels go: an offscreen image when headless; a
 * swapchain when a window comes) and the renderer (frames, encoders, meshes,
 * pipelines). The renderer never touches how the target gets or shows its
 * image, so a windowed target is one more implementation of vkr_target_ops. */
#ifndef VKR_H
#define VKR_H

#include <keel/host.h>
#include <keel/renderer.h>
#include <stdatomic.h>
#include <vulkan/vulkan.h>

/* ---- logging, through the host ---- */

#if defined(__GNUC__)
#define VKR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VKR_PRINTF(a, b)
#endif

void vkr_log(const keel_host *host, keel_log_level level, const char *fmt, ...) VKR_PRINTF(3, 4);
/* "VK_ERROR_DEVICE_LOST" and friends. */
const char *vkr_result_name(VkResult r);

/* ---- the device ---- */

typedef struct vkr_device {
  const keel_host *host;
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger; /* VK_NULL_HANDLE without validation */
  bool validation;                    /* the Khronos layer is on */
  VkPhysicalDevice physical;
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryProperties memory;
  VkDevice device;
  VkQueue queue; /* graphics (and present, with a surface); used by the main thread only */
  uint32_t queue_family;
  VkFormat depth_format;
  /* The host's window as a Vulkan surface; VK_NULL_HANDLE when headless.
   * With one, the device's queue can present to it and VK_KHR_swapchain
   * is on. */
  VkSurfaceKHR surface;
  char description[1024]; /* "NAME (TYPE, Vulkan X.Y.Z, driver ...)" for the log */
  /* Validation messages (warnings and errors) received, on any thread. */
  _Atomic uint64_t debug_messages;
} vkr_device;

/* Creates the instance (with the validation layer as `validation` says),
 * picks the device (`device_pref`: "" = best, a decimal index, or a
 * case-insensitive name substring) and creates it with one graphics queue.
 * `windowed`: the instance also gets the extensions the host's window
 * needs, the window's surface is made through the host
 * (platform_vulkan_create_surface), and only a device whose graphics queue
 * can present to it qualifies. On failure fills error with the reason and
 * destroys what it made. */
keel_result vkr_device_create(vkr_device *d, const keel_host *host, const char *device_pref,
                              keel_validation validation, bool windowed, keel_message *error);
void vkr_device_destroy(vkr_device *d);

/* A memory type index with every bit of `want` among `type_bits`, or
 * UINT32_MAX. */
uint32_t vkr_memory_type(const vkr_device *d, uint32_t type_bits, VkMemoryPropertyFlags want);

/* A buffer with its own memory. `want` memory properties are required;
 * `prefer` are tried first on top of them. mapped is non-NULL when the
 * memory is host-visible (it is then mapped for the buffer's life). */
typedef struct vkr_buffer {
  VkBuffer buffer;
  VkDeviceMemory memory;
  VkDeviceSize size;
  void *mapped;
} vkr_buffer;
VkResult vkr_buffer_create(const vkr_device *d, VkDeviceSize size, VkBufferUsageFlags usage,
                           VkMemoryPropertyFlags want, VkMemoryPropertyFlags prefer, vkr_buffer *out);
void vkr_buffer_destroy(const vkr_device *d, vkr_buffer *b);

/* ---- the target ---- */

typedef struct vkr_target vkr_target;

/* What a target implements. Every call is on the main thread. */
typedef struct vkr_target_ops {
  const char *name;
  /* Framebuffers for `render_pass` (both passes' render passes are
   * compatible, so one set serves both). Called again after a resize. */
  VkResult (*create_framebuffers)(vkr_target *t, VkRenderPass render_pass);
  /* The framebuffer this frame draws into. A target that must wait for its
   * image (a swapchain) returns the semaphore the submission waits on, and
   * the one it signals for present; VK_NULL_HANDLE when none. */
  VkResult (*acquire)(vkr_target *t, VkFramebuffer *framebuffer, VkSemaphore *wait, VkSemaphore *signal);
  /* After the frame's submission: show it (a swapchain) or nothing. */
  VkResult (*present)(vkr_target *t);
  /* New size; the device is idle when this is called. */
  VkResult (*resize)(vkr_target *t, uint32_t width, uint32_t height);
  /* Records into cb a copy of the last frame's colour image into `dst`
   * (tightly packed RGBA8, top row first); false when the target cannot be
   * read back. */
  bool (*record_readback)(vkr_target *t, VkCommandBuffer cb, VkBuffer dst);
  void (*destroy)(vkr_target *t);
} vkr_target_ops;

struct vkr_target {
  const vkr_target_ops *ops;
  vkr_device *device;
  VkFormat color_format;
  /* The layout the last pass leaves the colour image in: TRANSFER_SRC for
   * an offscreen image (readback), PRESENT_SRC for a swapchain's. */
  VkImageLayout final_layout;
  /* Pipeline stages and accesses that use the colour image after the last
   * pass (the render pass's outgoing dependency). */
  VkPipelineStageFlags after_stage;
  VkAccessFlags after_access;
  VkExtent2D extent;
  /* A fault the tests inject (KEEL_VULKAN_FAULT=out_of_date@N or
   * suboptimal@N): the N-th present of a window target is told its
   * swapchain is out of date (or suboptimal) as if the window had changed.
   * 0 = none. */
  uint64_t fault_present;
  VkResult fault_result;
};

/* The headless target: an RGBA8 colour image and a depth image in device
 * memory. */
keel_result vkr_target_offscreen_create(vkr_device *d, uint32_t width, uint32_t height, vkr_target **out,
                                        keel_message *error);
/* An offscreen target's colour image (in its final layout after a frame). */
VkImage vkr_target_offscreen_image(vkr_target *t);

/* The windowed target: frames are drawn into an offscreen target exactly
 * as headless (so readback and the image are the same), then each present
 * blits it into the next image of a swapchain on the device's surface and
 * presents that. `vsync`: FIFO presentation, else MAILBOX or IMMEDIATE
 * when the surface offers one. */
keel_result vkr_target_window_create(vkr_device *d, uint32_t width, uint32_t height, bool vsync, vkr_target **out,
                                     keel_message *error);

#endif
