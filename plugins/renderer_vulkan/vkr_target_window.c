/* The windowed target: every frame is drawn into an offscreen target, the
 * same as headless (so a window shows exactly the headless image, and
 * readback works unchanged), and present blits it into the next swapchain
 * image and presents that. The swapchain is remade when the window is
 * resized, and when presentation says it is out of date or suboptimal;
 * while the surface is 0 x 0 (minimised) frames are drawn but not shown.
 *
 * Synchronisation, all on the device's one queue: the frame's submission
 * signals `drawn[slot]`; the blit's submission waits for it and for
 * `acquired[slot]` (the image is free), signals `blitted[image]` for the
 * presentation and `blit_fence[slot]` for the CPU, which waits for it
 * before reusing the slot's command buffer and semaphores. The next frame's
 * render pass orders its writes after the blit's read (its incoming
 * dependency covers transfers, as it does for readback copies). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vkr.h"

#define WIN_SLOTS 3     /* blits in flight */
#define WIN_IMAGES_MAX 8

typedef struct window_target {
  vkr_target base;      /* first: a vkr_target* is a window_target* */
  vkr_target *offscreen; /* where frames are drawn */
  bool vsync;
  VkSwapchainKHR swapchain; /* VK_NULL_HANDLE while the surface is 0 x 0 */
  VkFormat format;
  VkExtent2D swap_extent;
  VkPresentModeKHR mode;
  uint32_t image_count;
  VkImage images[WIN_IMAGES_MAX];
  VkSemaphore blitted[WIN_IMAGES_MAX];
  VkCommandPool pool;
  VkCommandBuffer cb[WIN_SLOTS];
  VkSemaphore drawn[WIN_SLOTS], acquired[WIN_SLOTS];
  VkFence blit_fence[WIN_SLOTS];
  bool fence_pending[WIN_SLOTS];
  uint32_t slot;
  bool stale; /* the swapchain no longer fits the surface: remake it before the next image */
  const char *stale_why;
  uint64_t presents;
} window_target;

static const char *mode_name(VkPresentModeKHR m) {
  switch (m) {
    case VK_PRESENT_MODE_FIFO_KHR: return "FIFO (vsync)";
    case VK_PRESENT_MODE_MAILBOX_KHR: return "MAILBOX";
    case VK_PRESENT_MODE_IMMEDIATE_KHR: return "IMMEDIATE";
    case VK_PRESENT_MODE_FIFO_RELAXED_KHR: return "FIFO_RELAXED";
    default: return "other";
  }
}

static VkPresentModeKHR pick_mode(window_target *w) {
  if (w->vsync) return VK_PRESENT_MODE_FIFO_KHR; /* always supported */
  vkr_device *d = w->base.device;
  uint32_t n = 0;
  VkPresentModeKHR modes[16];
  if (vkGetPhysicalDeviceSurfacePresentModesKHR(d->physical, d->surface, &n, NULL) != VK_SUCCESS) n = 0;
  if (n > 16) n = 16;
  if (n) vkGetPhysicalDeviceSurfacePresentModesKHR(d->physical, d->surface, &n, modes);
  VkPresentModeKHR best = VK_PRESENT_MODE_FIFO_KHR;
  for (uint32_t i = 0; i < n; i++) {
    if (modes[i] == VK_PRESENT_MODE_MAILBOX_KHR) return modes[i];
    if (modes[i] == VK_PRESENT_MODE_IMMEDIATE_KHR) best = modes[i];
  }
  return best;
}

/* A UNORM 8-bit format: the offscreen image holds linear values written as
 * they are (keel/renderer.h), so an sRGB swapchain would show another image
 * than headless. */
static VkResult pick_format(window_target *w, VkFormat *out) {
  vkr_device *d = w->base.device;
  uint32_t n = 0;
  VkSurfaceFormatKHR formats[32];
  VkResult res = vkGetPhysicalDeviceSurfaceFormatsKHR(d->physical, d->surface, &n, NULL);
  if (res != VK_SUCCESS) return res;
  if (n > 32) n = 32;
  if ((res = vkGetPhysicalDeviceSurfaceFormatsKHR(d->physical, d->surface, &n, formats)) < 0) return res;
  for (uint32_t i = 0; i < n; i++)
    if ((formats[i].format == VK_FORMAT_B8G8R8A8_UNORM || formats[i].format == VK_FORMAT_R8G8B8A8_UNORM) &&
        formats[i].colorSpace == VK_COLOR_SPACE_SRGB_NONLINEAR_KHR) {
      *out = formats[i].format;
      return VK_SUCCESS;
    }
  return VK_ERROR_FORMAT_NOT_SUPPORTED;
}

static void swapchain_release(window_target *w, VkSwapchainKHR keep_for_old) {
  VkDevice dev = w->base.device->device;
  for (uint32_t i = 0; i < WIN_IMAGES_MAX; i++) {
    if (w->blitted[i]) vkDestroySemaphore(dev, w->blitted[i], NULL);
    w->blitted[i] = VK_NULL_HANDLE;
  }
  if (w->swapchain && w->swapchain != keep_for_old) vkDestroySwapchainKHR(dev, w->swapchain, NULL);
  w->swapchain = VK_NULL_HANDLE;
  w->image_count = 0;
}

/* (Re)makes the swapchain for the surface's current size; none while it is
 * 0 x 0. The device is idle when this runs. */
static VkResult swapchain_make(window_target *w, uint32_t width, uint32_t height) {
  vkr_device *d = w->base.device;
  VkSurfaceCapabilitiesKHR caps;
  VkResult res = vkGetPhysicalDeviceSurfaceCapabilitiesKHR(d->physical, d->surface, &caps);
  if (res != VK_SUCCESS) return res;
  VkExtent2D extent = caps.currentExtent;
  if (extent.width == UINT32_MAX) { /* the surface takes the swapchain's size */
    extent.width = width < caps.minImageExtent.width    ? caps.minImageExtent.width
                   : width > caps.maxImageExtent.width  ? caps.maxImageExtent.width
                                                        : width;
    extent.height = height < caps.minImageExtent.height   ? caps.minImageExtent.height
                    : height > caps.maxImageExtent.height ? caps.maxImageExtent.height
                                                          : height;
  }
  VkSwapchainKHR old = w->swapchain;
  swapchain_release(w, old);
  w->stale = false;
  if (extent.width == 0 || extent.height == 0) {
    if (old) vkDestroySwapchainKHR(d->device, old, NULL);
    return VK_SUCCESS; /* minimised: nothing to show until it has a size again */
  }
  if (!(caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_DST_BIT)) {
    if (old) vkDestroySwapchainKHR(d->device, old, NULL);
    return VK_ERROR_FEATURE_NOT_PRESENT;
  }
  uint32_t count = caps.minImageCount + 1;
  if (caps.maxImageCount && count > caps.maxImageCount) count = caps.maxImageCount;
  if (count > WIN_IMAGES_MAX) count = WIN_IMAGES_MAX;
  VkCompositeAlphaFlagBitsKHR alpha = VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR;
  if (!(caps.supportedCompositeAlpha & alpha))
    for (uint32_t b = 1; b; b <<= 1)
      if (caps.supportedCompositeAlpha & b) {
        alpha = (VkCompositeAlphaFlagBitsKHR)b;
        break;
      }
  VkSwapchainCreateInfoKHR ci = {.sType = VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR,
                                 .surface = d->surface,
                                 .minImageCount = count,
                                 .imageFormat = w->format,
                                 .imageColorSpace = VK_COLOR_SPACE_SRGB_NONLINEAR_KHR,
                                 .imageExtent = extent,
                                 .imageArrayLayers = 1,
                                 .imageUsage = VK_IMAGE_USAGE_TRANSFER_DST_BIT,
                                 .imageSharingMode = VK_SHARING_MODE_EXCLUSIVE,
                                 .preTransform = (caps.supportedTransforms & VK_SURFACE_TRANSFORM_IDENTITY_BIT_KHR)
                                                     ? VK_SURFACE_TRANSFORM_IDENTITY_BIT_KHR
                                                     : caps.currentTransform,
                                 .compositeAlpha = alpha,
                                 .presentMode = w->mode,
                                 .clipped = VK_TRUE,
                                 .oldSwapchain = old};
  res = vkCreateSwapchainKHR(d->device, &ci, NULL, &w->swapchain);
  if (old) vkDestroySwapchainKHR(d->device, old, NULL);
  if (res != VK_SUCCESS) {
    w->swapchain = VK_NULL_HANDLE;
    return res;
  }
  w->swap_extent = extent;
  uint32_t n = 0;
  vkGetSwapchainImagesKHR(d->device, w->swapchain, &n, NULL);
  if (n > WIN_IMAGES_MAX) n = WIN_IMAGES_MAX;
  if ((res = vkGetSwapchainImagesKHR(d->device, w->swapchain, &n, w->images)) < 0) return res;
  w->image_count = n;
  VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
  for (uint32_t i = 0; i < n && res >= 0; i++) res = vkCreateSemaphore(d->device, &si, NULL, &w->blitted[i]);
  return res < 0 ? res : VK_SUCCESS;
}

static VkResult win_create_framebuffers(vkr_target *t, VkRenderPass render_pass) {
  window_target *w = (window_target *)t;
  return w->offscreen->ops->create_framebuffers(w->offscreen, render_pass);
}

static VkResult win_acquire(vkr_target *t, VkFramebuffer *framebuffer, VkSemaphore *wait, VkSemaphore *signal) {
  window_target *w = (window_target *)t;
  VkSemaphore unused_wait, unused_signal;
  VkResult res = w->offscreen->ops->acquire(w->offscreen, framebuffer, &unused_wait, &unused_signal);
  *wait = VK_NULL_HANDLE;
  *signal = w->drawn[w->slot]; /* the blit at present waits for it */
  return res;
}

/* Waits for the slot's last blit so its command buffer and semaphores can
 * be used again. */
static VkResult slot_wait(window_target *w, uint32_t slot) {
  if (!w->fence_pending[slot]) return VK_SUCCESS;
  VkDevice dev = w->base.device->device;
  VkResult res = vkWaitForFences(dev, 1, &w->blit_fence[slot], VK_TRUE, 10ull * 1000000000ull);
  if (res != VK_SUCCESS) return res == VK_TIMEOUT ? VK_ERROR_DEVICE_LOST : res;
  w->fence_pending[slot] = false;
  return vkResetFences(dev, 1, &w->blit_fence[slot]);
}

/* The frame was drawn but is not shown (no swapchain, or it could not give
 * an image): its `drawn` semaphore is still waited for, so it can be
 * signalled again. */
static VkResult consume_drawn(window_target *w, uint32_t slot) {
  VkPipelineStageFlags stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
  VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                     .waitSemaphoreCount = 1,
                     .pWaitSemaphores = &w->drawn[slot],
                     .pWaitDstStageMask = &stage};
  VkResult res = vkQueueSubmit(w->base.device->queue, 1, &si, w->blit_fence[slot]);
  if (res == VK_SUCCESS) w->fence_pending[slot] = true;
  return res;
}

/* Remakes the swapchain (`why`: the window was resized, or the swapchain
 * said it is out of date or suboptimal), once every blit is done. */
static VkResult remake(window_target *w, const char *why) {
  VkResult res = vkDeviceWaitIdle(w->base.device->device);
  if (res != VK_SUCCESS) return res;
  for (uint32_t i = 0; i < WIN_SLOTS; i++)
    if ((res = slot_wait(w, i)) != VK_SUCCESS) return res;
  res = swapchain_make(w, w->base.extent.width, w->base.extent.height);
  if (res == VK_SUCCESS)
    vkr_log(w->base.device->host, KEEL_LOG_INFO, "swapchain remade (%s): %ux%u", why,
            w->swapchain ? w->swap_extent.width : 0, w->swapchain ? w->swap_extent.height : 0);
  return res;
}

/* The swapchain's answer, or the fault a test injects in its place. */
static VkResult injected(window_target *w, VkResult res) {
  return w->base.fault_present && w->presents == w->base.fault_present && res >= 0 ? w->base.fault_result : res;
}

static VkResult record_blit(window_target *w, VkCommandBuffer cb, VkImage dst) {
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  VkResult res = vkResetCommandBuffer(cb, 0);
  if (res == VK_SUCCESS) res = vkBeginCommandBuffer(cb, &bi);
  if (res != VK_SUCCESS) return res;
  VkImageMemoryBarrier to_dst = {.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER,
                                 .srcAccessMask = 0,
                                 .dstAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                                 .oldLayout = VK_IMAGE_LAYOUT_UNDEFINED,
                                 .newLayout = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
                                 .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                                 .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                                 .image = dst,
                                 .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1}};
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, NULL, 0, NULL, 1,
                       &to_dst);
  VkExtent2D src = w->base.extent, out = w->swap_extent;
  VkImageBlit region = {.srcSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                        .srcOffsets = {{0, 0, 0}, {(int32_t)src.width, (int32_t)src.height, 1}},
                        .dstSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                        .dstOffsets = {{0, 0, 0}, {(int32_t)out.width, (int32_t)out.height, 1}}};
  /* A blit, not a copy: it converts RGBA to the swapchain's BGRA, and
   * scales in the frames between a resize and the renderer's resize call. */
  vkCmdBlitImage(cb, vkr_target_offscreen_image(w->offscreen), VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, dst,
                 VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &region, VK_FILTER_NEAREST);
  VkImageMemoryBarrier to_present = to_dst;
  to_present.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  to_present.dstAccessMask = 0;
  to_present.oldLayout = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL;
  to_present.newLayout = VK_IMAGE_LAYOUT_PRESENT_SRC_KHR;
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, 0, 0, NULL, 0, NULL,
                       1, &to_present);
  return vkEndCommandBuffer(cb);
}

static VkResult win_present(vkr_target *t) {
  window_target *w = (window_target *)t;
  vkr_device *d = t->device;
  uint32_t slot = w->slot;
  w->slot = (w->slot + 1) % WIN_SLOTS;
  w->presents++;
  VkResult res = slot_wait(w, slot);
  if (res != VK_SUCCESS) return res;
  if (w->stale && (res = remake(w, w->stale_why)) != VK_SUCCESS) return res;
  uint32_t index = 0;
  bool fault_out_of_date = w->base.fault_result == VK_ERROR_OUT_OF_DATE_KHR;
  res = w->swapchain ? vkAcquireNextImageKHR(d->device, w->swapchain, UINT64_MAX, w->acquired[slot], VK_NULL_HANDLE,
                                             &index)
                     : VK_ERROR_OUT_OF_DATE_KHR;
  if (fault_out_of_date && w->swapchain) {
    VkResult faked = injected(w, res);
    if (faked != res) {
      /* As a driver would: the image acquired is given back unused (a
       * present of nothing is not possible, so through an empty blit). */
      res = faked;
      VkSemaphore waits[1] = {w->acquired[slot]};
      VkPipelineStageFlags stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
      VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .waitSemaphoreCount = 1, .pWaitSemaphores = waits,
                         .pWaitDstStageMask = &stage};
      VkResult sr = vkQueueSubmit(d->queue, 1, &si, VK_NULL_HANDLE);
      if (sr != VK_SUCCESS) return sr;
    }
  }
  if (res == VK_ERROR_OUT_OF_DATE_KHR && w->swapchain) {
    /* The window changed under the swapchain: remake it and try once more. */
    if ((res = remake(w, "out of date")) != VK_SUCCESS) return res;
    res = w->swapchain ? vkAcquireNextImageKHR(d->device, w->swapchain, UINT64_MAX, w->acquired[slot],
                                               VK_NULL_HANDLE, &index)
                       : VK_ERROR_OUT_OF_DATE_KHR;
  }
  if (res == VK_ERROR_OUT_OF_DATE_KHR) {
    w->stale = w->swapchain != VK_NULL_HANDLE;
    w->stale_why = "out of date";
    return consume_drawn(w, slot); /* nothing to show it on this time */
  }
  if (res == VK_SUBOPTIMAL_KHR) {
    w->stale = true; /* shown this time, remade before the next */
    w->stale_why = "suboptimal";
  } else if (res != VK_SUCCESS) {
    return res;
  }
  if ((res = record_blit(w, w->cb[slot], w->images[index])) != VK_SUCCESS) return res;
  VkSemaphore waits[2] = {w->drawn[slot], w->acquired[slot]};
  VkPipelineStageFlags stages[2] = {VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT};
  VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                     .waitSemaphoreCount = 2,
                     .pWaitSemaphores = waits,
                     .pWaitDstStageMask = stages,
                     .commandBufferCount = 1,
                     .pCommandBuffers = &w->cb[slot],
                     .signalSemaphoreCount = 1,
                     .pSignalSemaphores = &w->blitted[index]};
  if ((res = vkQueueSubmit(d->queue, 1, &si, w->blit_fence[slot])) != VK_SUCCESS) return res;
  w->fence_pending[slot] = true;
  VkPresentInfoKHR pi = {.sType = VK_STRUCTURE_TYPE_PRESENT_INFO_KHR,
                         .waitSemaphoreCount = 1,
                         .pWaitSemaphores = &w->blitted[index],
                         .swapchainCount = 1,
                         .pSwapchains = &w->swapchain,
                         .pImageIndices = &index};
  res = vkQueuePresentKHR(d->queue, &pi);
  if (!fault_out_of_date) res = injected(w, res);
  if (res == VK_ERROR_OUT_OF_DATE_KHR || res == VK_SUBOPTIMAL_KHR) {
    w->stale = true; /* remade before the next image */
    w->stale_why = res == VK_SUBOPTIMAL_KHR ? "suboptimal" : "out of date";
    return VK_SUCCESS;
  }
  return res;
}

static VkResult win_resize(vkr_target *t, uint32_t width, uint32_t height) {
  window_target *w = (window_target *)t;
  VkResult res = w->offscreen->ops->resize(w->offscreen, width, height);
  t->extent = w->offscreen->extent;
  if (res != VK_SUCCESS) return res;
  return remake(w, "the window was resized");
}

static bool win_record_readback(vkr_target *t, VkCommandBuffer cb, VkBuffer dst) {
  window_target *w = (window_target *)t;
  return w->offscreen->ops->record_readback(w->offscreen, cb, dst);
}

static void win_destroy(vkr_target *t) {
  if (!t) return;
  window_target *w = (window_target *)t;
  VkDevice dev = t->device->device;
  vkDeviceWaitIdle(dev);
  swapchain_release(w, VK_NULL_HANDLE);
  for (uint32_t i = 0; i < WIN_SLOTS; i++) {
    if (w->drawn[i]) vkDestroySemaphore(dev, w->drawn[i], NULL);
    if (w->acquired[i]) vkDestroySemaphore(dev, w->acquired[i], NULL);
    if (w->blit_fence[i]) vkDestroyFence(dev, w->blit_fence[i], NULL);
  }
  if (w->pool) vkDestroyCommandPool(dev, w->pool, NULL);
  if (w->offscreen) w->offscreen->ops->destroy(w->offscreen);
  free(w);
}

static const vkr_target_ops window_ops = {
    .name = "window",
    .create_framebuffers = win_create_framebuffers,
    .acquire = win_acquire,
    .present = win_present,
    .resize = win_resize,
    .record_readback = win_record_readback,
    .destroy = win_destroy,
};

keel_result vkr_target_window_create(vkr_device *d, uint32_t width, uint32_t height, bool vsync, vkr_target **out,
                                     keel_message *error) {
  *out = NULL;
  if (!d->surface) {
    if (error) snprintf(error->text, sizeof error->text, "window target: the device has no surface");
    return KEEL_ERR_WRONG_STATE;
  }
  window_target *w = calloc(1, sizeof *w);
  if (!w) return KEEL_ERR_OUT_OF_MEMORY;
  w->base.ops = &window_ops;
  w->base.device = d;
  w->vsync = vsync;
  keel_result kr = vkr_target_offscreen_create(d, width, height, &w->offscreen, error);
  if (kr != KEEL_OK) {
    free(w);
    return kr;
  }
  /* The frame passes see the offscreen target's format and final layout. */
  w->base.color_format = w->offscreen->color_format;
  w->base.final_layout = w->offscreen->final_layout;
  w->base.after_stage = w->offscreen->after_stage;
  w->base.after_access = w->offscreen->after_access;
  w->base.extent = w->offscreen->extent;
  const char *failed = "vkGetPhysicalDeviceSurfaceFormatsKHR";
  VkResult res = pick_format(w, &w->format);
  w->mode = pick_mode(w);
  VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                .queueFamilyIndex = d->queue_family};
  if (res == VK_SUCCESS) {
    failed = "vkCreateCommandPool";
    res = vkCreateCommandPool(d->device, &pi, NULL, &w->pool);
  }
  if (res == VK_SUCCESS) {
    failed = "vkAllocateCommandBuffers";
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = w->pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = WIN_SLOTS};
    res = vkAllocateCommandBuffers(d->device, &ai, w->cb);
  }
  VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
  VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  for (uint32_t i = 0; i < WIN_SLOTS && res == VK_SUCCESS; i++) {
    failed = "vkCreateSemaphore";
    res = vkCreateSemaphore(d->device, &si, NULL, &w->drawn[i]);
    if (res == VK_SUCCESS) res = vkCreateSemaphore(d->device, &si, NULL, &w->acquired[i]);
    if (res == VK_SUCCESS) {
      failed = "vkCreateFence";
      res = vkCreateFence(d->device, &fi, NULL, &w->blit_fence[i]);
    }
  }
  if (res == VK_SUCCESS) {
    failed = "vkCreateSwapchainKHR";
    res = swapchain_make(w, width, height);
  }
  if (res != VK_SUCCESS) {
    if (error)
      snprintf(error->text, sizeof error->text, "window target %ux%u: %s failed: %s%s", width, height, failed,
               vkr_result_name(res),
               res == VK_ERROR_FORMAT_NOT_SUPPORTED ? " (the surface offers no B8G8R8A8 or R8G8B8A8 UNORM format)"
               : res == VK_ERROR_FEATURE_NOT_PRESENT ? " (the swapchain images cannot be blitted into)"
                                                     : "");
    win_destroy(&w->base);
    return res == VK_ERROR_OUT_OF_DEVICE_MEMORY || res == VK_ERROR_OUT_OF_HOST_MEMORY ? KEEL_ERR_OUT_OF_MEMORY
                                                                                       : KEEL_ERR_BACKEND;
  }
  vkr_log(d->host, KEEL_LOG_INFO, "window swapchain %ux%u, %u images, %s, present mode %s",
          w->swap_extent.width, w->swap_extent.height, w->image_count,
          w->format == VK_FORMAT_B8G8R8A8_UNORM ? "B8G8R8A8_UNORM" : "R8G8B8A8_UNORM", mode_name(w->mode));
  *out = &w->base;
  return KEEL_OK;
}
