/* The headless target: one RGBA8 colour image and one depth image in device
 * memory, and one framebuffer. Frames in flight share them: submissions on
 * the one queue run in order, and the render passes' dependencies order
 * each frame's writes after the previous frame's (and after a readback's
 * copy). The last pass leaves the colour image ready to copy from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vkr.h"

typedef struct offscreen {
  vkr_target base; /* first: a vkr_target* is an offscreen* */
  VkImage color, depth;
  VkDeviceMemory color_memory, depth_memory;
  VkImageView color_view, depth_view;
  VkFramebuffer framebuffer;
  VkRenderPass render_pass; /* the one the framebuffer was made for */
} offscreen;

static VkResult image_create(vkr_device *d, VkFormat format, VkImageUsageFlags usage, VkImageAspectFlags aspect,
                             VkExtent2D extent, VkImage *image, VkDeviceMemory *memory, VkImageView *view) {
  VkImageCreateInfo ii = {.sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO,
                          .imageType = VK_IMAGE_TYPE_2D,
                          .format = format,
                          .extent = {extent.width, extent.height, 1},
                          .mipLevels = 1,
                          .arrayLayers = 1,
                          .samples = VK_SAMPLE_COUNT_1_BIT,
                          .tiling = VK_IMAGE_TILING_OPTIMAL,
                          .usage = usage,
                          .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
                          .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED};
  VkResult res = vkCreateImage(d->device, &ii, NULL, image);
  if (res != VK_SUCCESS) return res;
  VkMemoryRequirements req;
  vkGetImageMemoryRequirements(d->device, *image, &req);
  uint32_t type = vkr_memory_type(d, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  if (type == UINT32_MAX) type = vkr_memory_type(d, req.memoryTypeBits, 0);
  VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                             .memoryTypeIndex = type};
  res = vkAllocateMemory(d->device, &ai, NULL, memory);
  if (res == VK_SUCCESS) res = vkBindImageMemory(d->device, *image, *memory, 0);
  if (res != VK_SUCCESS) return res;
  VkImageViewCreateInfo vi = {.sType = VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO,
                              .image = *image,
                              .viewType = VK_IMAGE_VIEW_TYPE_2D,
                              .format = format,
                              .subresourceRange = {aspect, 0, 1, 0, 1}};
  return vkCreateImageView(d->device, &vi, NULL, view);
}

static void images_destroy(offscreen *o) {
  VkDevice dev = o->base.device->device;
  if (o->framebuffer) vkDestroyFramebuffer(dev, o->framebuffer, NULL);
  if (o->color_view) vkDestroyImageView(dev, o->color_view, NULL);
  if (o->depth_view) vkDestroyImageView(dev, o->depth_view, NULL);
  if (o->color) vkDestroyImage(dev, o->color, NULL);
  if (o->depth) vkDestroyImage(dev, o->depth, NULL);
  if (o->color_memory) vkFreeMemory(dev, o->color_memory, NULL);
  if (o->depth_memory) vkFreeMemory(dev, o->depth_memory, NULL);
  o->framebuffer = VK_NULL_HANDLE;
  o->color_view = o->depth_view = VK_NULL_HANDLE;
  o->color = o->depth = VK_NULL_HANDLE;
  o->color_memory = o->depth_memory = VK_NULL_HANDLE;
}

static VkResult images_create(offscreen *o) {
  vkr_device *d = o->base.device;
  VkResult res = image_create(d, o->base.color_format,
                              VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT,
                              VK_IMAGE_ASPECT_COLOR_BIT, o->base.extent, &o->color, &o->color_memory, &o->color_view);
  if (res == VK_SUCCESS)
    res = image_create(d, d->depth_format, VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT, VK_IMAGE_ASPECT_DEPTH_BIT,
                       o->base.extent, &o->depth, &o->depth_memory, &o->depth_view);
  return res;
}

static VkResult off_create_framebuffers(vkr_target *t, VkRenderPass render_pass) {
  offscreen *o = (offscreen *)t;
  if (o->framebuffer) vkDestroyFramebuffer(t->device->device, o->framebuffer, NULL);
  o->framebuffer = VK_NULL_HANDLE;
  o->render_pass = render_pass;
  VkImageView views[2] = {o->color_view, o->depth_view};
  VkFramebufferCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO,
                                .renderPass = render_pass,
                                .attachmentCount = 2,
                                .pAttachments = views,
                                .width = t->extent.width,
                                .height = t->extent.height,
                                .layers = 1};
  return vkCreateFramebuffer(t->device->device, &fi, NULL, &o->framebuffer);
}

static VkResult off_acquire(vkr_target *t, VkFramebuffer *framebuffer, VkSemaphore *wait, VkSemaphore *signal) {
  offscreen *o = (offscreen *)t;
  *framebuffer = o->framebuffer;
  *wait = VK_NULL_HANDLE;
  *signal = VK_NULL_HANDLE;
  return o->framebuffer ? VK_SUCCESS : VK_ERROR_INITIALIZATION_FAILED;
}

static VkResult off_present(vkr_target *t) {
  (void)t; /* nobody to show it to: readback reads the image */
  return VK_SUCCESS;
}

static VkResult off_resize(vkr_target *t, uint32_t width, uint32_t height) {
  offscreen *o = (offscreen *)t;
  images_destroy(o);
  t->extent = (VkExtent2D){width, height};
  VkResult res = images_create(o);
  if (res == VK_SUCCESS && o->render_pass) res = off_create_framebuffers(t, o->render_pass);
  return res;
}

static bool off_record_readback(vkr_target *t, VkCommandBuffer cb, VkBuffer dst) {
  offscreen *o = (offscreen *)t;
  /* The last pass left the image in TRANSFER_SRC_OPTIMAL with its writes
   * made available to transfers (the render pass's outgoing dependency). */
  VkBufferImageCopy region = {.bufferOffset = 0,
                              .bufferRowLength = 0,
                              .bufferImageHeight = 0,
                              .imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                              .imageOffset = {0, 0, 0},
                              .imageExtent = {t->extent.width, t->extent.height, 1}};
  vkCmdCopyImageToBuffer(cb, o->color, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, dst, 1, &region);
  VkMemoryBarrier to_host = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                             .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                             .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &to_host, 0, NULL, 0,
                       NULL);
  return true;
}

static void off_destroy(vkr_target *t) {
  if (!t) return;
  images_destroy((offscreen *)t);
  free(t);
}

VkImage vkr_target_offscreen_image(vkr_target *t) { return ((offscreen *)t)->color; }

static const vkr_target_ops offscreen_ops = {
    .name = "offscreen",
    .create_framebuffers = off_create_framebuffers,
    .acquire = off_acquire,
    .present = off_present,
    .resize = off_resize,
    .record_readback = off_record_readback,
    .destroy = off_destroy,
};

keel_result vkr_target_offscreen_create(vkr_device *d, uint32_t width, uint32_t height, vkr_target **out,
                                        keel_message *error) {
  *out = NULL;
  offscreen *o = calloc(1, sizeof *o);
  if (!o) return KEEL_ERR_OUT_OF_MEMORY;
  o->base.ops = &offscreen_ops;
  o->base.device = d;
  o->base.color_format = VK_FORMAT_R8G8B8A8_UNORM;
  o->base.final_layout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
  o->base.after_stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
  o->base.after_access = VK_ACCESS_TRANSFER_READ_BIT;
  o->base.extent = (VkExtent2D){width, height};
  VkResult res = images_create(o);
  if (res != VK_SUCCESS) {
    if (error)
      snprintf(error->text, sizeof error->text, "offscreen target %ux%u: image creation failed: %s", width, height,
               vkr_result_name(res));
    off_destroy(&o->base);
    return res == VK_ERROR_OUT_OF_DEVICE_MEMORY || res == VK_ERROR_OUT_OF_HOST_MEMORY ? KEEL_ERR_OUT_OF_MEMORY
                                                                                       : KEEL_ERR_BACKEND;
  }
  *out = &o->base;
  return KEEL_OK;
}
