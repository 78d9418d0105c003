/* The Vulkan renderer plugin: keel.renderer/1 and keel.renderer.readback/1.
 *
 * Shape of a frame (DESIGN §7): begin_frame waits for the fence of the
 * frame slot it reuses (the only wait), then each (pass, worker) encoder
 * records a secondary command buffer from its own command pool of that
 * slot, on whatever job thread runs it; every run of one mesh in the sorted
 * draw list becomes one instanced draw, its per-draw data (model matrix,
 * colour) written into the slot's instance buffer, each encoder in blocks
 * it reserved for itself. end_frame, on the main thread, executes the
 * secondaries in pass and worker order in one primary and hands it to the
 * renderer's submit thread, the one thread that submits frames (see "the
 * submit thread" below for why main does not call vkQueueSubmit itself).
 * Meshes live in device-local buffers uploaded once. Where the pixels go is
 * the target's business (vkr_target: offscreen when headless). */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keel/plugin.h>

#include "vkr.h"

static const uint32_t vkr_spv_world_vert[] =
#include "world.vert.inc"
    ;
static const uint32_t vkr_spv_screen_vert[] =
#include "screen.vert.inc"
    ;
static const uint32_t vkr_spv_world_frag[] =
#include "world.frag.inc"
    ;
static const uint32_t vkr_spv_screen_frag[] =
#include "screen.frag.inc"
    ;

/* Mesh handle: slot in the low 16 bits, generation (never 0) in the high. */
#define VKR_MESH_SLOTS 4096u
#define VKR_MESH_INDEX_MASK 0xffffu
/* Per-draw data: mat4 model + vec4 colour. */
#define VKR_INSTANCE_BYTES 80u
/* Each encoder of each frame slot writes its draws' data into its own
 * instance buffer, kept from frame to frame and doubled when a frame needs
 * more: so runs are contiguous and no two threads share a counter. */
#define VKR_INSTANCES_MIN 4096u
#define VKR_INSTANCES_MAX (1u << 24)
#define VKR_RETIRED_MAX 24u
/* A fence that does not signal within this is a hung device. */
#define VKR_FENCE_TIMEOUT_NS 60000000000ull
#define VKR_MAX_FRAMES 4u

/* Same layout as world.frag's Lights buffer (std430); the count is the
 * pipeline's specialization constant. */
typedef struct vkr_lights_ubo {
  float data[KEEL_RENDERER_MAX_LIGHTS * 3][4];
} vkr_lights_ubo;

enum { ENC_IDLE = 0, ENC_OPEN = 1, ENC_ENDED = 2 };
#define ENC_STATE(word) ((unsigned)((word) & 0xffu))
#define ENC_OWNER(word) ((word) >> 8)
#define ENC_WORD(owner, state) (((uint64_t)(owner) << 8) | (uint64_t)(state))

typedef struct vkr_mesh {
  _Atomic uint32_t live; /* the live handle, 0 when free; encoders check draws against it */
  uint16_t generation;   /* main thread only, as are the members below until `live` publishes them */
  uint32_t next_free;
  vkr_buffer buffer; /* vertices (position, normal), then indices */
  VkDeviceSize index_offset;
  uint32_t index_count;
} vkr_mesh;

/* One encoder's instance data in one frame slot. Touched only by the
 * encoder that owns the (slot, pass, worker) while it is open. */
typedef struct vkr_instances {
  vkr_buffer buffer; /* host-visible, mapped; capacity * VKR_INSTANCE_BYTES */
  uint32_t capacity, used;
  /* Outgrown buffers that this frame's commands may still read: freed when
   * the slot comes round again (its fence has signalled). */
  vkr_buffer retired[VKR_RETIRED_MAX];
  uint32_t retired_count;
} vkr_instances;

typedef struct vkr_frame {
  VkFence fence;
  bool submitted; /* the fence will signal: wait before reuse */
  uint64_t job;   /* the submit thread's job that submits it (0: main submitted it) */
  uint64_t number; /* the end_frame call (1 = the first) that submitted it */
  uint64_t serial; /* submission number, for deferred frees */
  VkCommandPool primary_pool;
  VkCommandBuffer primary;
  vkr_buffer lights;
  VkDescriptorSet set;
  /* [pass * max_workers + worker], made on first use by that encoder */
  VkCommandPool *pools;
  VkCommandBuffer *secondaries;
  vkr_instances *instances;
} vkr_frame;

struct keel_encoder {
  struct keel_renderer *renderer;
  uint32_t pass, worker;
  _Atomic uint64_t word;
  /* Owner thread only while open; end_frame reads them after ENDED. */
  vkr_frame *frame;
  VkCommandBuffer cb;
  bool camera_set;
  keel_result failure; /* a Vulkan call failed while recording: not submitted */
  vkr_instances *inst;
  uint32_t run_mesh, run_first, run_count;
  uint32_t bound_mesh;
  VkBuffer bound_instances;
  uint64_t draws, calls;
};

typedef struct vkr_garbage {
  vkr_buffer buffer;
  uint64_t serial; /* free once this submission has completed */
} vkr_garbage;

/* The submit thread (headless targets). Measured: on lavapipe (Mesa 22.3)
 * vkQueueSubmit returns only once the driver has run the command buffer's
 * front end, and on 2 cores with a script thread busy 30 ms a tick the main
 * thread sat in it 0.3-0.9 ms a frame while lavapipe's threads took its core
 * (bench_vulkan p99: 8-10x the idle script's p99). The rule is that
 * nothing but the reused slot's fence blocks the main thread, so end_frame
 * hands the frame to this thread, which submits in order; main waits for it
 * only where it waited anyway (the slot's fence) or where it needs the queue
 * itself (uploads, readback, resize, destroy), after draining it. A window
 * target still submits and presents on the main thread: its present must
 * follow the submission on the queue, and its swapchain slot is shared by
 * acquire and present, so moving presentation too is its own change. */
#define VKR_JOBS 8u
typedef struct vkr_submitter {
  bool running;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake, done;
  /* Under lock. Job n (1-based) is jobs[(n - 1) % VKR_JOBS]; a job's slot
   * is reused VKR_JOBS jobs later, after its frame slot has been waited for
   * (one job a frame, at most VKR_MAX_FRAMES frames in flight). */
  struct {
    VkCommandBuffer cb;
    VkFence fence;
    VkResult result; /* vkQueueSubmit's, once finished */
    VkResult inject; /* KEEL_VULKAN_FAULT: fail with this instead of submitting */
  } jobs[VKR_JOBS];
  uint64_t pushed, finished;
  bool quit;
} vkr_submitter;

typedef enum vkr_fault {
  FAULT_NONE = 0,
  FAULT_DEVICE_LOST,
  FAULT_OUT_OF_MEMORY,
  FAULT_OUT_OF_DATE, /* a window target's N-th present */
  FAULT_SUBOPTIMAL
} vkr_fault;

struct keel_renderer {
  const keel_host *host;
  uint64_t main_thread;
  vkr_device dev;
  vkr_target *target;
  uint32_t pass_count, max_workers, frames_in_flight;

  /* The world pass clears colour and depth; an overlay keeps the colour
   * and clears depth. The *_last variants end in the target's layout: a
   * frame's last pass that runs uses one. All are compatible. */
  VkRenderPass rp_world, rp_world_last;
  VkRenderPass rp_overlay, rp_overlay_last;
  VkDescriptorSetLayout set_layout;
  VkPipelineLayout layout;
  VkDescriptorPool descriptor_pool;
  /* The world pipeline for each light count, made the first time a frame
   * has that many lights (begin_frame, main thread); read by encoders. */
  VkPipeline world_pipelines[KEEL_RENDERER_MAX_LIGHTS + 1];
  VkPipeline screen_pipeline;
  VkShaderModule world_vert, world_frag;
  uint32_t light_count; /* of the open frame */

  vkr_frame frames[VKR_MAX_FRAMES];
  uint32_t slot;          /* frame slot of the open (or last) frame */
  uint64_t frames_begun;
  uint64_t submitted;     /* submissions so far (the last one's serial) */
  uint64_t completed;     /* every submission up to this serial has completed */
  int last_submitted_slot; /* -1 = none */

  struct keel_encoder *encoders; /* [pass * max_workers + worker] */
  _Atomic bool in_frame;
  keel_color clear;
  bool presentable, frame_completed;
  bool lost; /* the device is gone: every later call says so */

  vkr_mesh *meshes;
  uint32_t free_head, live_meshes;
  vkr_garbage *garbage;
  uint32_t garbage_count, garbage_cap;

  /* One-off work on the main thread: uploads through staging, readback. */
  VkCommandPool once_pool;
  VkCommandBuffer once_cb;
  VkFence once_fence;
  vkr_buffer readback;

  uint64_t frames_done, passes, encoders_ended, draws, draw_calls;
  _Atomic uint64_t errors;

  vkr_fault fault;
  uint64_t fault_frame; /* the end_frame call (1 = the first) whose submission fails */
  uint64_t end_frame_calls;

  vkr_submitter sub; /* sub.running: frames go through the submit thread */
};

/* ---- threads and refusals ---- */

static _Atomic uint64_t vkr_next_thread_id = 1;
/* initial-exec, never __tls_get_addr: see renderer_null.c (LeakSanitizer). */
static _Thread_local uint64_t vkr_thread_id_value __attribute__((tls_model("initial-exec")));

static uint64_t vkr_thread_id(void) {
  if (!vkr_thread_id_value) vkr_thread_id_value = atomic_fetch_add(&vkr_next_thread_id, 1);
  return vkr_thread_id_value;
}

static keel_result refuse(keel_renderer *r, keel_result code, const char *fmt, ...) VKR_PRINTF(3, 4);
static keel_result refuse(keel_renderer *r, keel_result code, const char *fmt, ...) {
  atomic_fetch_add_explicit(&r->errors, 1, memory_order_relaxed);
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  vkr_log(r->host, KEEL_LOG_ERROR, "%s", text);
  return code;
}

static keel_result map_vk(VkResult res) {
  switch (res) {
    case VK_SUCCESS: return KEEL_OK;
    case VK_ERROR_DEVICE_LOST: return KEEL_ERR_DEVICE_LOST;
    case VK_ERROR_OUT_OF_HOST_MEMORY:
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return KEEL_ERR_OUT_OF_MEMORY;
    default: return KEEL_ERR_BACKEND;
  }
}

/* A Vulkan call failed: log which call in which renderer call, and make a
 * lost device sticky. Any thread (`lost` is only set from the main thread's
 * calls; an encoder's failure reaches end_frame through its encoder). */
static keel_result vk_failed(keel_renderer *r, const char *call, const char *vk_call, VkResult res) {
  keel_result code = map_vk(res);
  if (code == KEEL_ERR_DEVICE_LOST && r->main_thread == vkr_thread_id()) r->lost = true;
  return refuse(r, code, "%s: %s failed: %s%s", call, vk_call, vkr_result_name(res),
                code == KEEL_ERR_DEVICE_LOST ? " (the Vulkan device is lost; the renderer cannot go on)" : "");
}

static keel_result refuse_lost(keel_renderer *r, const char *call) {
  return refuse(r, KEEL_ERR_DEVICE_LOST, "%s: the Vulkan device was lost earlier; nothing more can be drawn", call);
}

static bool on_main(const keel_renderer *r) { return vkr_thread_id() == r->main_thread; }

static keel_result refuse_off_main(keel_renderer *r, const char *call) {
  return refuse(r, KEEL_ERR_WRONG_STATE,
                "%s: called off the main thread (main-thread calls must come from the thread that called create)",
                call);
}

static void set_error(keel_message *error, const char *fmt, ...) VKR_PRINTF(2, 3);
static void set_error(keel_message *error, const char *fmt, ...) {
  if (!error) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error->text, sizeof error->text, fmt, ap);
  va_end(ap);
}

/* KEEL_VULKAN_FAULT=device_lost@N or out_of_memory@N: the N-th end_frame's
 * submission fails as if the driver had said so; out_of_date@N or
 * suboptimal@N: the N-th present to a window finds its swapchain out of
 * date or suboptimal. How the tests check that the renderer and the engine
 * handle a fault they cannot cause for real (or not on demand). */
static void fault_parse(keel_renderer *r) {
  const char *f = getenv("KEEL_VULKAN_FAULT");
  if (!f || !*f) return;
  const char *at = strchr(f, '@');
  unsigned long long n = at ? strtoull(at + 1, NULL, 10) : 0;
  size_t len = at ? (size_t)(at - f) : strlen(f);
  if (n > 0 && len == 11 && strncmp(f, "device_lost", 11) == 0) r->fault = FAULT_DEVICE_LOST;
  else if (n > 0 && len == 13 && strncmp(f, "out_of_memory", 13) == 0) r->fault = FAULT_OUT_OF_MEMORY;
  else if (n > 0 && len == 11 && strncmp(f, "out_of_date", 11) == 0) r->fault = FAULT_OUT_OF_DATE;
  else if (n > 0 && len == 10 && strncmp(f, "suboptimal", 10) == 0) r->fault = FAULT_SUBOPTIMAL;
  if (r->fault == FAULT_OUT_OF_DATE || r->fault == FAULT_SUBOPTIMAL) {
    r->fault_frame = n;
    vkr_log(r->host, KEEL_LOG_WARN, "KEEL_VULKAN_FAULT=%s: present %llu will find the swapchain %s on purpose", f, n,
            r->fault == FAULT_OUT_OF_DATE ? "out of date" : "suboptimal");
  } else if (r->fault) {
    r->fault_frame = n;
    vkr_log(r->host, KEEL_LOG_WARN, "KEEL_VULKAN_FAULT=%s: frame %llu's submission will fail on purpose", f, n);
  } else {
    vkr_log(r->host, KEEL_LOG_WARN,
            "KEEL_VULKAN_FAULT=%s ignored: use device_lost@N, out_of_memory@N, out_of_date@N or suboptimal@N (N >= 1)",
            f);
  }
}

/* ---- the submit thread ---- */

static void *submit_main(void *arg) {
  keel_renderer *r = arg;
  vkr_submitter *s = &r->sub;
  pthread_setname_np(pthread_self(), "keel-vk-submit");
  /* SCHED_BATCH (same nice, no privilege): a batch thread that wakes does
   * not preempt the running one, so handing a frame over does not cost the
   * main thread its core; the submission runs once main has finished its
   * frame, or on a free core. A failure only loses that nicety. */
  struct sched_param sp = {.sched_priority = 0};
  (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
  pthread_mutex_lock(&s->lock);
  for (;;) {
    while (!s->quit && s->finished == s->pushed) pthread_cond_wait(&s->wake, &s->lock);
    if (s->finished == s->pushed) break; /* quit, and every job done */
    uint32_t k = (uint32_t)(s->finished % VKR_JOBS);
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &s->jobs[k].cb};
    VkFence fence = s->jobs[k].fence;
    VkResult inject = s->jobs[k].inject;
    pthread_mutex_unlock(&s->lock);
    VkResult res = inject != VK_SUCCESS ? inject : vkQueueSubmit(r->dev.queue, 1, &si, fence);
    pthread_mutex_lock(&s->lock);
    s->jobs[k].result = res;
    s->finished++;
    pthread_cond_broadcast(&s->done);
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

static bool submit_start(keel_renderer *r) {
  vkr_submitter *s = &r->sub;
  if (pthread_mutex_init(&s->lock, NULL) != 0) return false;
  if (pthread_cond_init(&s->wake, NULL) != 0) {
    pthread_mutex_destroy(&s->lock);
    return false;
  }
  if (pthread_cond_init(&s->done, NULL) != 0 || pthread_create(&s->thread, NULL, submit_main, r) != 0) {
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    return false;
  }
  s->running = true;
  return true;
}

/* Main thread: every job handed over is submitted before the thread ends. */
static void submit_stop(keel_renderer *r) {
  vkr_submitter *s = &r->sub;
  if (!s->running) return;
  pthread_mutex_lock(&s->lock);
  s->quit = true;
  pthread_cond_signal(&s->wake);
  pthread_mutex_unlock(&s->lock);
  pthread_join(s->thread, NULL);
  pthread_cond_destroy(&s->done);
  pthread_cond_destroy(&s->wake);
  pthread_mutex_destroy(&s->lock);
  s->running = false;
}

/* Main thread: hands over a primary to submit with `fence`; returns its job
 * number. Never waits: frames in flight bound the jobs pending. */
static uint64_t submit_push(keel_renderer *r, VkCommandBuffer cb, VkFence fence, VkResult inject) {
  vkr_submitter *s = &r->sub;
  pthread_mutex_lock(&s->lock);
  while (s->pushed - s->finished == VKR_JOBS) pthread_cond_wait(&s->done, &s->lock);
  uint32_t k = (uint32_t)(s->pushed % VKR_JOBS);
  s->jobs[k].cb = cb;
  s->jobs[k].fence = fence;
  s->jobs[k].inject = inject;
  s->jobs[k].result = VK_SUCCESS;
  uint64_t job = ++s->pushed;
  pthread_cond_signal(&s->wake);
  pthread_mutex_unlock(&s->lock);
  return job;
}

/* Main thread: waits until job `job` (0: every job handed over) has been
 * submitted; returns that job's result (VK_SUCCESS for 0: each failure is
 * reported by the wait for its own frame, frame_wait). */
static VkResult submit_wait(keel_renderer *r, uint64_t job) {
  vkr_submitter *s = &r->sub;
  if (!s->running) return VK_SUCCESS;
  pthread_mutex_lock(&s->lock);
  uint64_t until = job ? job : s->pushed;
  while (s->finished < until) pthread_cond_wait(&s->done, &s->lock);
  VkResult res = job ? s->jobs[(job - 1) % VKR_JOBS].result : VK_SUCCESS;
  pthread_mutex_unlock(&s->lock);
  return res;
}

/* Main thread: frame f's submission failed on the submit thread; its fence
 * will never signal, so the frame is simply lost (a later one draws again
 * unless the device is gone). Says so once, in `call`, naming the frame. */
static keel_result frame_submit_failed(keel_renderer *r, vkr_frame *f, const char *call, VkResult res) {
  f->submitted = false;
  char what[96];
  snprintf(what, sizeof what, "vkQueueSubmit of frame %llu (on the submit thread)", (unsigned long long)f->number);
  return vk_failed(r, call, what, res);
}

/* ---- one-off command buffers (main thread) ---- */

static VkResult once_begin(keel_renderer *r) {
  VkResult res = vkResetCommandPool(r->dev.device, r->once_pool, 0);
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  if (res == VK_SUCCESS) res = vkBeginCommandBuffer(r->once_cb, &bi);
  return res;
}

/* Ends, submits and waits for the one-off buffer; names the failing call. */
static VkResult once_submit_wait(keel_renderer *r, const char **failed) {
  VkResult res = vkEndCommandBuffer(r->once_cb);
  *failed = "vkEndCommandBuffer";
  if (res != VK_SUCCESS) return res;
  VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &r->once_cb};
  *failed = "vkResetFences";
  if ((res = vkResetFences(r->dev.device, 1, &r->once_fence)) != VK_SUCCESS) return res;
  /* The queue is the submit thread's until every frame handed to it is in. */
  submit_wait(r, 0);
  *failed = "vkQueueSubmit";
  if ((res = vkQueueSubmit(r->dev.queue, 1, &si, r->once_fence)) != VK_SUCCESS) return res;
  *failed = "vkWaitForFences";
  return vkWaitForFences(r->dev.device, 1, &r->once_fence, VK_TRUE, VKR_FENCE_TIMEOUT_NS);
}

/* ---- creation ---- */

static VkResult render_pass_create(keel_renderer *r, bool clear_color, VkImageLayout color_initial,
                                   VkImageLayout color_final, VkPipelineStageFlags after_stage,
                                   VkAccessFlags after_access, VkRenderPass *out) {
  VkAttachmentDescription att[2] = {
      {.format = r->target->color_format,
       .samples = VK_SAMPLE_COUNT_1_BIT,
       .loadOp = clear_color ? VK_ATTACHMENT_LOAD_OP_CLEAR : VK_ATTACHMENT_LOAD_OP_LOAD,
       .storeOp = VK_ATTACHMENT_STORE_OP_STORE,
       .stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE,
       .stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE,
       .initialLayout = color_initial,
       .finalLayout = color_final},
      {.format = r->dev.depth_format,
       .samples = VK_SAMPLE_COUNT_1_BIT,
       .loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR,
       .storeOp = VK_ATTACHMENT_STORE_OP_DONT_CARE,
       .stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE,
       .stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE,
       .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED,
       .finalLayout = VK_IMAGE_LAYOUT_DEPTH_STENCIL_ATTACHMENT_OPTIMAL},
  };
  VkAttachmentReference color_ref = {0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
  VkAttachmentReference depth_ref = {1, VK_IMAGE_LAYOUT_DEPTH_STENCIL_ATTACHMENT_OPTIMAL};
  VkSubpassDescription sub = {.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS,
                              .colorAttachmentCount = 1,
                              .pColorAttachments = &color_ref,
                              .pDepthStencilAttachment = &depth_ref};
  /* Render passes are compatible only when their dependencies are equal,
   * so every pass has the same two. In: after the previous pass or frame
   * wrote colour and depth, and after whatever read the image since (a
   * readback's copy). Out: to the next pass and to the target's user of
   * the image (after_stage). */
  const VkPipelineStageFlags attach_stages = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT |
                                             VK_PIPELINE_STAGE_EARLY_FRAGMENT_TESTS_BIT |
                                             VK_PIPELINE_STAGE_LATE_FRAGMENT_TESTS_BIT;
  const VkAccessFlags attach_access = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT | VK_ACCESS_COLOR_ATTACHMENT_READ_BIT |
                                      VK_ACCESS_DEPTH_STENCIL_ATTACHMENT_READ_BIT |
                                      VK_ACCESS_DEPTH_STENCIL_ATTACHMENT_WRITE_BIT;
  const VkAccessFlags attach_writes = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT | VK_ACCESS_DEPTH_STENCIL_ATTACHMENT_WRITE_BIT;
  VkSubpassDependency deps[2] = {
      {.srcSubpass = VK_SUBPASS_EXTERNAL,
       .dstSubpass = 0,
       .srcStageMask = attach_stages | after_stage,
       .dstStageMask = attach_stages,
       .srcAccessMask = attach_writes,
       .dstAccessMask = attach_access},
      {.srcSubpass = 0,
       .dstSubpass = VK_SUBPASS_EXTERNAL,
       .srcStageMask = attach_stages,
       .dstStageMask = attach_stages | after_stage,
       .srcAccessMask = attach_writes,
       .dstAccessMask = attach_access | after_access},
  };
  VkRenderPassCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO,
                               .attachmentCount = 2,
                               .pAttachments = att,
                               .subpassCount = 1,
                               .pSubpasses = &sub,
                               .dependencyCount = 2,
                               .pDependencies = deps};
  return vkCreateRenderPass(r->dev.device, &ci, NULL, out);
}

static VkResult shader_create(keel_renderer *r, const uint32_t *code, size_t bytes, VkShaderModule *out) {
  VkShaderModuleCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = bytes,
                                 .pCode = code};
  return vkCreateShaderModule(r->dev.device, &ci, NULL, out);
}

static VkResult pipeline_create(keel_renderer *r, VkShaderModule vert, VkShaderModule frag, bool lit,
                                uint32_t light_count, VkRenderPass rp, VkPipeline *out) {
  VkSpecializationMapEntry entry = {.constantID = 0, .offset = 0, .size = sizeof(uint32_t)};
  VkSpecializationInfo spec = {.mapEntryCount = 1, .pMapEntries = &entry, .dataSize = sizeof light_count,
                               .pData = &light_count};
  VkPipelineShaderStageCreateInfo stages[2] = {
      {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_VERTEX_BIT,
       .module = vert, .pName = "main"},
      {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_FRAGMENT_BIT,
       .module = frag, .pName = "main", .pSpecializationInfo = lit ? &spec : NULL},
  };
  VkVertexInputBindingDescription bindings[2] = {
      {.binding = 0, .stride = 24, .inputRate = VK_VERTEX_INPUT_RATE_VERTEX},
      {.binding = 1, .stride = VKR_INSTANCE_BYTES, .inputRate = VK_VERTEX_INPUT_RATE_INSTANCE},
  };
  /* The normal (location 1, last here) only in the lit world pass. */
  VkVertexInputAttributeDescription attrs[7] = {
      {.location = 0, .binding = 0, .format = VK_FORMAT_R32G32B32_SFLOAT, .offset = 0},
      {.location = 2, .binding = 1, .format = VK_FORMAT_R32G32B32A32_SFLOAT, .offset = 0},
      {.location = 3, .binding = 1, .format = VK_FORMAT_R32G32B32A32_SFLOAT, .offset = 16},
      {.location = 4, .binding = 1, .format = VK_FORMAT_R32G32B32A32_SFLOAT, .offset = 32},
      {.location = 5, .binding = 1, .format = VK_FORMAT_R32G32B32A32_SFLOAT, .offset = 48},
      {.location = 6, .binding = 1, .format = VK_FORMAT_R32G32B32A32_SFLOAT, .offset = 64},
      {.location = 1, .binding = 0, .format = VK_FORMAT_R32G32B32_SFLOAT, .offset = 12},
  };
  VkPipelineVertexInputStateCreateInfo vi = {.sType = VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO,
                                             .vertexBindingDescriptionCount = 2,
                                             .pVertexBindingDescriptions = bindings,
                                             .vertexAttributeDescriptionCount = lit ? 7u : 6u,
                                             .pVertexAttributeDescriptions = attrs};
  VkPipelineInputAssemblyStateCreateInfo ia = {.sType = VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO,
                                               .topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_LIST};
  VkPipelineViewportStateCreateInfo vp = {.sType = VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO,
                                          .viewportCount = 1,
                                          .scissorCount = 1};
  /* The projection negates y (Vulkan's y-down clip space), which mirrors
   * the winding: counter-clockwise meshes stay front-facing as CCW. */
  VkPipelineRasterizationStateCreateInfo rs = {.sType = VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO,
                                               .polygonMode = VK_POLYGON_MODE_FILL,
                                               .cullMode = lit ? VK_CULL_MODE_BACK_BIT : VK_CULL_MODE_NONE,
                                               .frontFace = VK_FRONT_FACE_COUNTER_CLOCKWISE,
                                               .lineWidth = 1.0f};
  VkPipelineMultisampleStateCreateInfo ms = {.sType = VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO,
                                             .rasterizationSamples = VK_SAMPLE_COUNT_1_BIT};
  VkPipelineDepthStencilStateCreateInfo ds = {.sType = VK_STRUCTURE_TYPE_PIPELINE_DEPTH_STENCIL_STATE_CREATE_INFO,
                                              .depthTestEnable = VK_TRUE,
                                              .depthWriteEnable = VK_TRUE,
                                              .depthCompareOp = VK_COMPARE_OP_LESS};
  VkPipelineColorBlendAttachmentState blend = {.blendEnable = VK_FALSE,
                                               .colorWriteMask = VK_COLOR_COMPONENT_R_BIT | VK_COLOR_COMPONENT_G_BIT |
                                                                 VK_COLOR_COMPONENT_B_BIT | VK_COLOR_COMPONENT_A_BIT};
  VkPipelineColorBlendStateCreateInfo cb = {.sType = VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO,
                                            .attachmentCount = 1,
                                            .pAttachments = &blend};
  VkDynamicState dyn[2] = {VK_DYNAMIC_STATE_VIEWPORT, VK_DYNAMIC_STATE_SCISSOR};
  VkPipelineDynamicStateCreateInfo dy = {.sType = VK_STRUCTURE_TYPE_PIPELINE_DYNAMIC_STATE_CREATE_INFO,
                                         .dynamicStateCount = 2,
                                         .pDynamicStates = dyn};
  VkGraphicsPipelineCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO,
                                     .stageCount = 2,
                                     .pStages = stages,
                                     .pVertexInputState = &vi,
                                     .pInputAssemblyState = &ia,
                                     .pViewportState = &vp,
                                     .pRasterizationState = &rs,
                                     .pMultisampleState = &ms,
                                     .pDepthStencilState = &ds,
                                     .pColorBlendState = &cb,
                                     .pDynamicState = &dy,
                                     .layout = r->layout,
                                     .renderPass = rp,
                                     .subpass = 0};
  return vkCreateGraphicsPipelines(r->dev.device, VK_NULL_HANDLE, 1, &ci, NULL, out);
}

/* Render passes, layouts, pipelines. Returns the failing call's name. */
static VkResult pipelines_create(keel_renderer *r, const char **failed) {
  VkResult res;
  const vkr_target *t = r->target;
  *failed = "vkCreateRenderPass";
  res = render_pass_create(r, true, VK_IMAGE_LAYOUT_UNDEFINED, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
                           t->after_stage, t->after_access, &r->rp_world);
  if (res == VK_SUCCESS)
    res = render_pass_create(r, true, VK_IMAGE_LAYOUT_UNDEFINED, t->final_layout, t->after_stage, t->after_access,
                             &r->rp_world_last);
  if (res == VK_SUCCESS)
    res = render_pass_create(r, false, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL,
                             t->after_stage, t->after_access, &r->rp_overlay);
  if (res == VK_SUCCESS)
    res = render_pass_create(r, false, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL, t->final_layout, t->after_stage,
                             t->after_access, &r->rp_overlay_last);
  if (res != VK_SUCCESS) return res;

  VkDescriptorSetLayoutBinding b = {.binding = 0,
                                    .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                    .descriptorCount = 1,
                                    .stageFlags = VK_SHADER_STAGE_FRAGMENT_BIT};
  VkDescriptorSetLayoutCreateInfo sl = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                        .bindingCount = 1,
                                        .pBindings = &b};
  *failed = "vkCreateDescriptorSetLayout";
  if ((res = vkCreateDescriptorSetLayout(r->dev.device, &sl, NULL, &r->set_layout)) != VK_SUCCESS) return res;
  VkPushConstantRange pc = {.stageFlags = VK_SHADER_STAGE_VERTEX_BIT, .offset = 0, .size = 128};
  VkPipelineLayoutCreateInfo pl = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                   .setLayoutCount = 1,
                                   .pSetLayouts = &r->set_layout,
                                   .pushConstantRangeCount = 1,
                                   .pPushConstantRanges = &pc};
  *failed = "vkCreatePipelineLayout";
  if ((res = vkCreatePipelineLayout(r->dev.device, &pl, NULL, &r->layout)) != VK_SUCCESS) return res;

  VkShaderModule m[2] = {VK_NULL_HANDLE, VK_NULL_HANDLE};
  *failed = "vkCreateShaderModule";
  res = shader_create(r, vkr_spv_world_vert, sizeof vkr_spv_world_vert, &r->world_vert);
  if (res == VK_SUCCESS) res = shader_create(r, vkr_spv_world_frag, sizeof vkr_spv_world_frag, &r->world_frag);
  if (res == VK_SUCCESS) res = shader_create(r, vkr_spv_screen_vert, sizeof vkr_spv_screen_vert, &m[0]);
  if (res == VK_SUCCESS) res = shader_create(r, vkr_spv_screen_frag, sizeof vkr_spv_screen_frag, &m[1]);
  if (res == VK_SUCCESS) {
    *failed = "vkCreateGraphicsPipelines";
    /* The world pipeline without lights now; others when a frame needs them. */
    res = pipeline_create(r, r->world_vert, r->world_frag, true, 0, r->rp_world, &r->world_pipelines[0]);
    if (res == VK_SUCCESS) res = pipeline_create(r, m[0], m[1], false, 0, r->rp_overlay, &r->screen_pipeline);
  }
  for (int i = 0; i < 2; i++)
    if (m[i]) vkDestroyShaderModule(r->dev.device, m[i], NULL);
  return res;
}

static VkResult frames_create(keel_renderer *r, const char **failed) {
  VkDevice dev = r->dev.device;
  VkResult res;
  VkDescriptorPoolSize size = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, r->frames_in_flight};
  VkDescriptorPoolCreateInfo dp = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                   .maxSets = r->frames_in_flight,
                                   .poolSizeCount = 1,
                                   .pPoolSizes = &size};
  *failed = "vkCreateDescriptorPool";
  if ((res = vkCreateDescriptorPool(dev, &dp, NULL, &r->descriptor_pool)) != VK_SUCCESS) return res;
  size_t encoders = (size_t)r->pass_count * r->max_workers;
  for (uint32_t i = 0; i < r->frames_in_flight; i++) {
    vkr_frame *f = &r->frames[i];
    f->pools = calloc(encoders, sizeof *f->pools);
    f->secondaries = calloc(encoders, sizeof *f->secondaries);
    f->instances = calloc(encoders, sizeof *f->instances);
    *failed = "calloc";
    if (!f->pools || !f->secondaries || !f->instances) return VK_ERROR_OUT_OF_HOST_MEMORY;
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    *failed = "vkCreateFence";
    if ((res = vkCreateFence(dev, &fi, NULL, &f->fence)) != VK_SUCCESS) return res;
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
                                  .queueFamilyIndex = r->dev.queue_family};
    *failed = "vkCreateCommandPool";
    if ((res = vkCreateCommandPool(dev, &pi, NULL, &f->primary_pool)) != VK_SUCCESS) return res;
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = f->primary_pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    *failed = "vkAllocateCommandBuffers";
    if ((res = vkAllocateCommandBuffers(dev, &ai, &f->primary)) != VK_SUCCESS) return res;
    *failed = "vkCreateBuffer (lights)";
    res = vkr_buffer_create(&r->dev, sizeof(vkr_lights_ubo), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                            VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, 0,
                            &f->lights);
    if (res != VK_SUCCESS) return res;
    memset(f->lights.mapped, 0, sizeof(vkr_lights_ubo));
    VkDescriptorSetAllocateInfo si = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = r->descriptor_pool,
                                      .descriptorSetCount = 1,
                                      .pSetLayouts = &r->set_layout};
    *failed = "vkAllocateDescriptorSets";
    if ((res = vkAllocateDescriptorSets(dev, &si, &f->set)) != VK_SUCCESS) return res;
    VkDescriptorBufferInfo bi = {.buffer = f->lights.buffer, .offset = 0, .range = sizeof(vkr_lights_ubo)};
    VkWriteDescriptorSet w = {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                              .dstSet = f->set,
                              .dstBinding = 0,
                              .descriptorCount = 1,
                              .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                              .pBufferInfo = &bi};
    vkUpdateDescriptorSets(dev, 1, &w, 0, NULL);
  }
  VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
                                .queueFamilyIndex = r->dev.queue_family};
  *failed = "vkCreateCommandPool";
  if ((res = vkCreateCommandPool(dev, &pi, NULL, &r->once_pool)) != VK_SUCCESS) return res;
  VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                    .commandPool = r->once_pool,
                                    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                    .commandBufferCount = 1};
  *failed = "vkAllocateCommandBuffers";
  if ((res = vkAllocateCommandBuffers(dev, &ai, &r->once_cb)) != VK_SUCCESS) return res;
  VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  *failed = "vkCreateFence";
  return vkCreateFence(dev, &fi, NULL, &r->once_fence);
}

static void garbage_collect(keel_renderer *r, bool all) {
  uint32_t kept = 0;
  for (uint32_t i = 0; i < r->garbage_count; i++) {
    if (all || r->garbage[i].serial <= r->completed)
      vkr_buffer_destroy(&r->dev, &r->garbage[i].buffer);
    else
      r->garbage[kept++] = r->garbage[i];
  }
  r->garbage_count = kept;
}

static void vkr_destroy(keel_renderer *r) {
  if (!r) return;
  if (r->main_thread && !on_main(r)) refuse_off_main(r, "destroy");
  VkDevice dev = r->dev.device;
  if (r->sub.running) {
    submit_stop(r);
    /* Nothing lost: a last frame whose submission failed is still told. */
    for (uint32_t i = 0; i < r->frames_in_flight; i++) {
      vkr_frame *f = &r->frames[i];
      VkResult res = f->submitted && f->job ? r->sub.jobs[(f->job - 1) % VKR_JOBS].result : VK_SUCCESS;
      if (res != VK_SUCCESS) frame_submit_failed(r, f, "destroy", res);
    }
  }
  if (dev) {
    /* After a loss this returns at once with an error: nothing runs any more. */
    vkDeviceWaitIdle(dev);
    garbage_collect(r, true);
    if (r->meshes)
      for (uint32_t i = 0; i < VKR_MESH_SLOTS; i++)
        if (atomic_load_explicit(&r->meshes[i].live, memory_order_relaxed)) vkr_buffer_destroy(&r->dev, &r->meshes[i].buffer);
    for (uint32_t i = 0; i < VKR_MAX_FRAMES; i++) {
      vkr_frame *f = &r->frames[i];
      for (size_t k = 0; k < (size_t)r->pass_count * r->max_workers; k++) {
        if (f->pools && f->pools[k]) vkDestroyCommandPool(dev, f->pools[k], NULL);
        if (f->instances) {
          vkr_instances *in = &f->instances[k];
          vkr_buffer_destroy(&r->dev, &in->buffer);
          for (uint32_t i2 = 0; i2 < in->retired_count; i2++) vkr_buffer_destroy(&r->dev, &in->retired[i2]);
        }
      }
      free(f->pools);
      free(f->instances);
      free(f->secondaries);
      if (f->primary_pool) vkDestroyCommandPool(dev, f->primary_pool, NULL);
      if (f->fence) vkDestroyFence(dev, f->fence, NULL);
      vkr_buffer_destroy(&r->dev, &f->lights);
    }
    vkr_buffer_destroy(&r->dev, &r->readback);
    if (r->once_pool) vkDestroyCommandPool(dev, r->once_pool, NULL);
    if (r->once_fence) vkDestroyFence(dev, r->once_fence, NULL);
    if (r->descriptor_pool) vkDestroyDescriptorPool(dev, r->descriptor_pool, NULL);
    for (uint32_t i = 0; i <= KEEL_RENDERER_MAX_LIGHTS; i++)
      if (r->world_pipelines[i]) vkDestroyPipeline(dev, r->world_pipelines[i], NULL);
    if (r->world_vert) vkDestroyShaderModule(dev, r->world_vert, NULL);
    if (r->world_frag) vkDestroyShaderModule(dev, r->world_frag, NULL);
    if (r->screen_pipeline) vkDestroyPipeline(dev, r->screen_pipeline, NULL);
    if (r->layout) vkDestroyPipelineLayout(dev, r->layout, NULL);
    if (r->set_layout) vkDestroyDescriptorSetLayout(dev, r->set_layout, NULL);
    if (r->rp_world) vkDestroyRenderPass(dev, r->rp_world, NULL);
    if (r->rp_world_last) vkDestroyRenderPass(dev, r->rp_world_last, NULL);
    if (r->rp_overlay) vkDestroyRenderPass(dev, r->rp_overlay, NULL);
    if (r->rp_overlay_last) vkDestroyRenderPass(dev, r->rp_overlay_last, NULL);
    if (r->target) r->target->ops->destroy(r->target);
  }
  vkr_device_destroy(&r->dev);
  free(r->garbage);
  free(r->meshes);
  free(r->encoders);
  free(r);
}

static keel_result vkr_create(const keel_renderer_desc *desc, keel_renderer **out, keel_message *error) {
  if (!out) {
    set_error(error, "create: out is NULL");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  *out = NULL;
  if (!desc || !KEEL_HAS_MEMBER(desc, keel_renderer_desc, pass_count)) {
    set_error(error, "create: the renderer desc is missing or older than keel.renderer/1");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (desc->width == 0 || desc->height == 0 || desc->pass_count == 0 || desc->pass_count > KEEL_RENDERER_MAX_PASSES ||
      desc->max_workers == 0 || desc->max_workers > KEEL_RENDERER_MAX_WORKERS || desc->frames_in_flight == 0 ||
      desc->frames_in_flight > VKR_MAX_FRAMES) {
    set_error(error, "create: size %ux%u (both >= 1), pass_count %u (1..%u), max_workers %u (1..%u), "
                     "frames_in_flight %u (1..%u)",
              desc->width, desc->height, desc->pass_count, KEEL_RENDERER_MAX_PASSES, desc->max_workers,
              KEEL_RENDERER_MAX_WORKERS, desc->frames_in_flight, VKR_MAX_FRAMES);
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  const keel_host *host = desc->host;
  /* Windowed: the host has opened a window for a Vulkan renderer and lends
   * its surface; without that there is nothing to present to. */
  bool windowed = !desc->headless;
  if (windowed && !(host && KEEL_HAS_MEMBER(host, keel_host, platform_gl_swap_buffers) && host->platform_has_window &&
                    host->platform_vulkan_instance_extensions && host->platform_vulkan_create_surface &&
                    host->platform_has_window(host))) {
    set_error(error, "create: windowed, but the host has no window to present to (run headless)");
    return KEEL_ERR_UNSUPPORTED;
  }
  keel_renderer *r = calloc(1, sizeof *r);
  if (!r) {
    set_error(error, "create: out of memory");
    return KEEL_ERR_OUT_OF_MEMORY;
  }
  r->host = host;
  r->main_thread = vkr_thread_id();
  r->pass_count = desc->pass_count;
  r->max_workers = desc->max_workers;
  r->frames_in_flight = desc->frames_in_flight;
  r->last_submitted_slot = -1;
  fault_parse(r);
  const char *device_pref = KEEL_HAS_MEMBER(desc, keel_renderer_desc, device) && desc->device ? desc->device : "";
  keel_validation validation =
      KEEL_HAS_MEMBER(desc, keel_renderer_desc, validation) ? desc->validation : KEEL_VALIDATION_OFF;
  keel_result kr = vkr_device_create(&r->dev, host, device_pref, validation, windowed, error);
  if (kr != KEEL_OK) {
    vkr_destroy(r);
    return kr;
  }
  kr = windowed ? vkr_target_window_create(&r->dev, desc->width, desc->height, desc->vsync, &r->target, error)
                : vkr_target_offscreen_create(&r->dev, desc->width, desc->height, &r->target, error);
  if (kr != KEEL_OK) {
    vkr_destroy(r);
    return kr;
  }
  if (r->fault == FAULT_OUT_OF_DATE || r->fault == FAULT_SUBOPTIMAL) {
    r->target->fault_present = r->fault_frame;
    r->target->fault_result = r->fault == FAULT_OUT_OF_DATE ? VK_ERROR_OUT_OF_DATE_KHR : VK_SUBOPTIMAL_KHR;
  }
  const char *failed = "";
  VkResult res = pipelines_create(r, &failed);
  if (res == VK_SUCCESS) {
    failed = "vkCreateFramebuffer";
    res = r->target->ops->create_framebuffers(r->target, r->rp_world);
  }
  if (res == VK_SUCCESS) res = frames_create(r, &failed);
  size_t encoder_count = (size_t)r->pass_count * r->max_workers;
  if (res == VK_SUCCESS) {
    failed = "calloc";
    r->encoders = calloc(encoder_count, sizeof *r->encoders);
    r->meshes = calloc(VKR_MESH_SLOTS, sizeof *r->meshes);
    if (!r->encoders || !r->meshes) res = VK_ERROR_OUT_OF_HOST_MEMORY;
  }
  if (res != VK_SUCCESS) {
    set_error(error, "create: %s failed on %s: %s", failed, r->dev.description, vkr_result_name(res));
    vkr_destroy(r);
    return map_vk(res);
  }
  for (uint32_t p = 0; p < r->pass_count; p++)
    for (uint32_t w = 0; w < r->max_workers; w++) {
      struct keel_encoder *e = &r->encoders[p * r->max_workers + w];
      e->renderer = r;
      e->pass = p;
      e->worker = w;
    }
  for (uint32_t i = 0; i < VKR_MESH_SLOTS; i++) r->meshes[i].next_free = i + 1;
  if (!windowed && !submit_start(r)) {
    set_error(error, "create: could not start the submit thread");
    vkr_destroy(r);
    return KEEL_ERR_OUT_OF_MEMORY;
  }
  vkr_log(host, KEEL_LOG_INFO, "device %s; validation %s; %u frames in flight; %s target %ux%u; frames submitted %s",
          r->dev.description, r->dev.validation ? "on (Khronos layer, synchronization included)" : "off",
          r->frames_in_flight, r->target->ops->name, desc->width, desc->height,
          r->sub.running ? "by the submit thread" : "on the main thread");
  *out = r;
  return KEEL_OK;
}

/* ---- frames ---- */

static keel_result frame_wait(keel_renderer *r, vkr_frame *f, const char *call) {
  if (!f->submitted) return KEEL_OK;
  VkResult submitted = submit_wait(r, f->job);
  if (submitted != VK_SUCCESS) return frame_submit_failed(r, f, call, submitted);
  VkResult res = vkWaitForFences(r->dev.device, 1, &f->fence, VK_TRUE, VKR_FENCE_TIMEOUT_NS);
  if (res == VK_TIMEOUT) {
    r->lost = true;
    return refuse(r, KEEL_ERR_DEVICE_LOST,
                  "%s: vkWaitForFences: the frame did not finish within %llu s; the device is treated as lost", call,
                  VKR_FENCE_TIMEOUT_NS / 1000000000ull);
  }
  if (res != VK_SUCCESS) return vk_failed(r, call, "vkWaitForFences", res);
  if (f->serial > r->completed) r->completed = f->serial;
  return KEEL_OK;
}

static keel_result check_lights(keel_renderer *r, const keel_frame_desc *frame) {
  if (!KEEL_HAS_MEMBER(frame, keel_frame_desc, light_count)) return KEEL_OK;
  if (frame->light_count > KEEL_RENDERER_MAX_LIGHTS)
    return refuse(r, KEEL_ERR_INVALID_ARGUMENT, "begin_frame: %u lights, more than KEEL_RENDERER_MAX_LIGHTS (%u)",
                  frame->light_count, KEEL_RENDERER_MAX_LIGHTS);
  if (frame->light_count && !frame->lights)
    return refuse(r, KEEL_ERR_INVALID_ARGUMENT, "begin_frame: %u lights from NULL", frame->light_count);
  for (uint32_t i = 0; i < frame->light_count; i++) {
    const keel_light *l = &frame->lights[i];
    if (l->kind != KEEL_LIGHT_POINT && l->kind != KEEL_LIGHT_DIRECTIONAL)
      return refuse(r, KEEL_ERR_INVALID_ARGUMENT, "begin_frame: light %u has unknown kind %d", i, (int)l->kind);
  }
  return KEEL_OK;
}

static uint32_t lights_write(vkr_frame *f, const keel_frame_desc *frame) {
  vkr_lights_ubo *u = f->lights.mapped;
  uint32_t n = KEEL_HAS_MEMBER(frame, keel_frame_desc, light_count) ? frame->light_count : 0;
  for (uint32_t i = 0; i < n; i++) {
    const keel_light *l = &frame->lights[i];
    float *pk = u->data[i * 3], *dr = u->data[i * 3 + 1], *ci = u->data[i * 3 + 2];
    pk[0] = l->position.x, pk[1] = l->position.y, pk[2] = l->position.z;
    pk[3] = l->kind == KEEL_LIGHT_DIRECTIONAL ? 1.0f : 0.0f;
    dr[0] = l->direction.x, dr[1] = l->direction.y, dr[2] = l->direction.z, dr[3] = l->range;
    ci[0] = l->color.r, ci[1] = l->color.g, ci[2] = l->color.b, ci[3] = l->intensity;
  }
  return n;
}

static keel_result vkr_begin_frame(keel_renderer *r, const keel_frame_desc *frame) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!on_main(r)) return refuse_off_main(r, "begin_frame");
  if (!frame || !KEEL_HAS_MEMBER(frame, keel_frame_desc, clear_color))
    return refuse(r, KEEL_ERR_INVALID_ARGUMENT, "begin_frame: the frame desc is missing or too small");
  if (atomic_load_explicit(&r->in_frame, memory_order_relaxed))
    return refuse(r, KEEL_ERR_WRONG_STATE, "begin_frame: a frame is already open (end_frame was not called)");
  keel_result kr = check_lights(r, frame);
  if (kr != KEEL_OK) return kr;
  if (r->lost) return refuse_lost(r, "begin_frame");
  uint32_t slot = (uint32_t)(r->frames_begun % r->frames_in_flight);
  vkr_frame *f = &r->frames[slot];
  /* The one wait of a frame: the GPU is done with this slot's buffers. */
  if ((kr = frame_wait(r, f, "begin_frame")) != KEEL_OK) return kr;
  f->submitted = false;
  f->job = 0;
  VkResult res = vkResetFences(r->dev.device, 1, &f->fence);
  if (res != VK_SUCCESS) return vk_failed(r, "begin_frame", "vkResetFences", res);
  garbage_collect(r, false);
  uint32_t lights = lights_write(f, frame);
  if (!r->world_pipelines[lights]) {
    /* Once per light count: a compile on the main thread, before any
     * encoder of this frame can need it. */
    res = pipeline_create(r, r->world_vert, r->world_frag, true, lights, r->rp_world, &r->world_pipelines[lights]);
    if (res != VK_SUCCESS) return vk_failed(r, "begin_frame", "vkCreateGraphicsPipelines", res);
  }
  r->light_count = lights;
  r->slot = slot;
  r->frames_begun++;
  r->clear = frame->clear_color;
  /* Release: encoders that see the frame open see the slot and its state. */
  atomic_store_explicit(&r->in_frame, true, memory_order_release);
  return KEEL_OK;
}

/* ---- encoders (any thread, one thread per encoder) ---- */

static keel_result encoder_start(struct keel_encoder *e) {
  keel_renderer *r = e->renderer;
  vkr_frame *f = &r->frames[r->slot];
  size_t idx = (size_t)e->pass * r->max_workers + e->worker;
  VkDevice dev = r->dev.device;
  VkResult res;
  if (!f->pools[idx]) {
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
                                  .queueFamilyIndex = r->dev.queue_family};
    if ((res = vkCreateCommandPool(dev, &pi, NULL, &f->pools[idx])) != VK_SUCCESS)
      return vk_failed(r, "encoder_begin", "vkCreateCommandPool", res);
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = f->pools[idx],
                                      .level = VK_COMMAND_BUFFER_LEVEL_SECONDARY,
                                      .commandBufferCount = 1};
    if ((res = vkAllocateCommandBuffers(dev, &ai, &f->secondaries[idx])) != VK_SUCCESS)
      return vk_failed(r, "encoder_begin", "vkAllocateCommandBuffers", res);
  } else if ((res = vkResetCommandPool(dev, f->pools[idx], 0)) != VK_SUCCESS) {
    return vk_failed(r, "encoder_begin", "vkResetCommandPool", res);
  }
  e->frame = f;
  e->cb = f->secondaries[idx];
  /* The slot's fence has signalled (begin_frame): last time's outgrown
   * buffers are free now. */
  e->inst = &f->instances[idx];
  for (uint32_t i = 0; i < e->inst->retired_count; i++) vkr_buffer_destroy(&r->dev, &e->inst->retired[i]);
  e->inst->retired_count = 0;
  e->inst->used = 0;
  bool world = e->pass == KEEL_PASS_WORLD;
  VkCommandBufferInheritanceInfo inherit = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_INHERITANCE_INFO,
      .renderPass = world ? r->rp_world : (e->pass + 1 == r->pass_count ? r->rp_overlay_last : r->rp_overlay),
      .subpass = 0};
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_RENDER_PASS_CONTINUE_BIT |
                                          VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
                                 .pInheritanceInfo = &inherit};
  if ((res = vkBeginCommandBuffer(e->cb, &bi)) != VK_SUCCESS)
    return vk_failed(r, "encoder_begin", "vkBeginCommandBuffer", res);
  vkCmdBindPipeline(e->cb, VK_PIPELINE_BIND_POINT_GRAPHICS,
                    world ? r->world_pipelines[r->light_count] : r->screen_pipeline);
  vkCmdBindDescriptorSets(e->cb, VK_PIPELINE_BIND_POINT_GRAPHICS, r->layout, 0, 1, &f->set, 0, NULL);
  VkExtent2D ext = r->target->extent;
  VkViewport vp = {0.0f, 0.0f, (float)ext.width, (float)ext.height, 0.0f, 1.0f};
  VkRect2D sc = {{0, 0}, ext};
  vkCmdSetViewport(e->cb, 0, 1, &vp);
  vkCmdSetScissor(e->cb, 0, 1, &sc);
  e->camera_set = false;
  e->failure = KEEL_OK;
  e->run_count = 0;
  e->bound_mesh = UINT32_MAX;
  e->bound_instances = VK_NULL_HANDLE;
  e->draws = e->calls = 0;
  return KEEL_OK;
}

static keel_result vkr_encoder_begin(keel_renderer *r, uint32_t pass, uint32_t worker, keel_encoder **out) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!out) return refuse(r, KEEL_ERR_INVALID_ARGUMENT, "encoder_begin: out is NULL");
  *out = NULL;
  if (!atomic_load_explicit(&r->in_frame, memory_order_acquire))
    return refuse(r, KEEL_ERR_WRONG_STATE,
                  "encoder_begin: no frame is open (call begin_frame first; encoders live until end_frame)");
  if (pass >= r->pass_count)
    return refuse(r, KEEL_ERR_WRONG_STATE, "encoder_begin: pass %u out of range (pass_count %u)", pass, r->pass_count);
  if (worker >= r->max_workers)
    return refuse(r, KEEL_ERR_WRONG_STATE, "encoder_begin: worker %u out of range (max_workers %u)", worker,
                  r->max_workers);
  struct keel_encoder *e = &r->encoders[pass * r->max_workers + worker];
  uint64_t word = atomic_load_explicit(&e->word, memory_order_acquire);
  if (ENC_STATE(word) != ENC_IDLE ||
      !atomic_compare_exchange_strong_explicit(&e->word, &word, ENC_WORD(vkr_thread_id(), ENC_OPEN),
                                               memory_order_acq_rel, memory_order_acquire))
    return refuse(r, KEEL_ERR_WRONG_STATE,
                  "encoder_begin: pass %u, worker %u already has an encoder in this frame (one per pass and worker)",
                  pass, worker);
  keel_result kr = encoder_start(e);
  if (kr != KEEL_OK) {
    atomic_store_explicit(&e->word, ENC_WORD(0, ENC_IDLE), memory_order_release);
    return kr;
  }
  *out = e;
  return KEEL_OK;
}

static keel_result check_encoder(struct keel_encoder *e, const char *call) {
  keel_renderer *r = e->renderer;
  uint64_t word = atomic_load_explicit(&e->word, memory_order_acquire);
  unsigned state = ENC_STATE(word);
  if (state != ENC_IDLE && ENC_OWNER(word) != vkr_thread_id())
    return refuse(r, KEEL_ERR_WRONG_STATE,
                  "%s: encoder (pass %u, worker %u) was begun by another thread; an encoder is used only by the "
                  "thread that began it",
                  call, e->pass, e->worker);
  if (state == ENC_ENDED)
    return refuse(r, KEEL_ERR_WRONG_STATE, "%s: encoder (pass %u, worker %u) is not open: it was already ended", call,
                  e->pass, e->worker);
  if (state == ENC_IDLE)
    return refuse(r, KEEL_ERR_WRONG_STATE, "%s: encoder (pass %u, worker %u) is not open: %s", call, e->pass,
                  e->worker,
                  atomic_load_explicit(&r->in_frame, memory_order_acquire)
                      ? "it was not begun in this frame"
                      : "no frame is open (after end_frame, or before begin_frame)");
  return KEEL_OK;
}

/* Issues the pending run of one mesh as one instanced draw. */
static void run_flush(struct keel_encoder *e) {
  if (!e->run_count) return;
  keel_renderer *r = e->renderer;
  const vkr_mesh *m = &r->meshes[e->run_mesh];
  if (e->bound_mesh != e->run_mesh) {
    VkDeviceSize zero = 0;
    vkCmdBindVertexBuffers(e->cb, 0, 1, &m->buffer.buffer, &zero);
    vkCmdBindIndexBuffer(e->cb, m->buffer.buffer, m->index_offset, VK_INDEX_TYPE_UINT32);
    e->bound_mesh = e->run_mesh;
  }
  if (e->bound_instances != e->inst->buffer.buffer) {
    VkDeviceSize zero = 0;
    vkCmdBindVertexBuffers(e->cb, 1, 1, &e->inst->buffer.buffer, &zero);
    e->bound_instances = e->inst->buffer.buffer;
  }
  vkCmdDrawIndexed(e->cb, m->index_count, e->run_count, 0, 0, e->run_first);
  e->calls++;
  e->run_count = 0;
}

static keel_result vkr_encoder_set_camera(keel_encoder *e, const keel_camera *camera) {
  if (!e) return KEEL_ERR_INVALID_ARGUMENT;
  keel_result kr = check_encoder(e, "encoder_set_camera");
  if (kr != KEEL_OK) return kr;
  if (!camera || !KEEL_HAS_MEMBER(camera, keel_camera, projection))
    return refuse(e->renderer, KEEL_ERR_INVALID_ARGUMENT, "encoder_set_camera: the camera is missing or too small");
  run_flush(e); /* draws recorded so far keep their camera */
  float pc[32];
  memcpy(pc, camera->view.m, 64);
  memcpy(pc + 16, camera->projection.m, 64);
  vkCmdPushConstants(e->cb, e->renderer->layout, VK_SHADER_STAGE_VERTEX_BIT, 0, sizeof pc, pc);
  e->camera_set = true;
  return KEEL_OK;
}

/* Room for `more` instances in the encoder's buffer: a buffer twice as
 * large when full (the old one retires until the slot comes round again,
 * since commands recorded this frame read it). Owner thread. */
static keel_result instances_grow(struct keel_encoder *e, uint32_t more) {
  keel_renderer *r = e->renderer;
  vkr_instances *in = e->inst;
  if (in->used + more <= in->capacity) return KEEL_OK;
  run_flush(e); /* the pending run reads the old buffer */
  uint64_t want = in->capacity ? (uint64_t)in->capacity * 2u : VKR_INSTANCES_MIN;
  while (want < (uint64_t)in->used + more) want *= 2u;
  if (want > VKR_INSTANCES_MAX || (in->buffer.buffer && in->retired_count == VKR_RETIRED_MAX))
    return refuse(r, KEEL_ERR_FULL, "encoder_draw: pass %u, worker %u: more than %u draws in one encoder", e->pass,
                  e->worker, in->capacity);
  vkr_buffer grown;
  VkResult res = vkr_buffer_create(&r->dev, want * VKR_INSTANCE_BYTES, VK_BUFFER_USAGE_VERTEX_BUFFER_BIT,
                                   VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, 0,
                                   &grown);
  if (res != VK_SUCCESS) return e->failure = vk_failed(r, "encoder_draw", "vkCreateBuffer (instance data)", res);
  if (in->buffer.buffer) in->retired[in->retired_count++] = in->buffer;
  in->buffer = grown;
  in->capacity = (uint32_t)want;
  in->used = 0; /* a fresh buffer: the draws so far stay in the retired one */
  return KEEL_OK;
}

static keel_result vkr_encoder_draw(keel_encoder *e, const keel_draw *draws, uint32_t count) {
  if (!e) return KEEL_ERR_INVALID_ARGUMENT;
  keel_renderer *r = e->renderer;
  keel_result kr = check_encoder(e, "encoder_draw");
  if (kr != KEEL_OK) return kr;
  if (count && !draws) return refuse(r, KEEL_ERR_INVALID_ARGUMENT, "encoder_draw: %u draws from NULL", count);
  if (count && !e->camera_set)
    return refuse(r, KEEL_ERR_WRONG_STATE,
                  "encoder_draw: pass %u, worker %u draws without a camera (set the pass's %s camera first)", e->pass,
                  e->worker, e->pass == KEEL_PASS_SCREEN ? "screen" : "world");
  /* All or nothing: a batch with one bad mesh records none of its draws. */
  for (uint32_t i = 0; i < count; i++) {
    uint32_t id = draws[i].mesh.id, slot = id & VKR_MESH_INDEX_MASK;
    if (id == 0 || slot >= VKR_MESH_SLOTS || atomic_load_explicit(&r->meshes[slot].live, memory_order_acquire) != id)
      return refuse(r, KEEL_ERR_WRONG_STATE,
                    "encoder_draw: draw %u of %u uses mesh 0x%08x, which is not a live mesh (never created, or "
                    "destroyed)",
                    i, count, id);
  }
  if ((kr = instances_grow(e, count)) != KEEL_OK) return kr;
  vkr_instances *in = e->inst;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t inst = in->used++;
    float *dst = (float *)((uint8_t *)in->buffer.mapped + (size_t)inst * VKR_INSTANCE_BYTES);
    memcpy(dst, draws[i].model.m, 64);
    memcpy(dst + 16, &draws[i].color, 16);
    uint32_t slot = draws[i].mesh.id & VKR_MESH_INDEX_MASK;
    if (e->run_count && slot != e->run_mesh) run_flush(e);
    if (!e->run_count) {
      e->run_mesh = slot;
      e->run_first = inst;
    }
    e->run_count++;
  }
  e->draws += count;
  return KEEL_OK;
}

static keel_result vkr_encoder_end(keel_encoder *e) {
  if (!e) return KEEL_ERR_INVALID_ARGUMENT;
  keel_renderer *r = e->renderer;
  keel_result kr = check_encoder(e, "encoder_end");
  if (kr != KEEL_OK) return kr;
  run_flush(e);
  VkResult res = vkEndCommandBuffer(e->cb);
  if (res != VK_SUCCESS) kr = e->failure = vk_failed(r, "encoder_end", "vkEndCommandBuffer", res);
  uint64_t open = ENC_WORD(vkr_thread_id(), ENC_OPEN);
  /* Release: end_frame, acquiring ENDED, sees the recorded buffer. */
  if (!atomic_compare_exchange_strong_explicit(&e->word, &open, ENC_WORD(vkr_thread_id(), ENC_ENDED),
                                               memory_order_acq_rel, memory_order_acquire))
    return refuse(r, KEEL_ERR_WRONG_STATE, "encoder_end: encoder (pass %u, worker %u) is not open: its frame ended first",
                  e->pass, e->worker);
  return kr;
}

/* ---- submission (main thread) ---- */

/* `counts[p]` secondaries of pass p follow each other in `lists`;
 * `drawn[p]` says whether any of them drew. Pass 0 always runs (it
 * clears); a later pass without draws is skipped: its depth clear is seen
 * by nobody, and on a CPU rasteriser each pass is a full sweep over the
 * image. Returns the passes run in *ran. */
static keel_result frame_record_and_submit(keel_renderer *r, VkCommandBuffer *lists, const uint32_t *counts,
                                           const bool *drawn, uint32_t *ran) {
  vkr_frame *f = &r->frames[r->slot];
  VkResult res = vkResetCommandPool(r->dev.device, f->primary_pool, 0);
  if (res != VK_SUCCESS) return vk_failed(r, "end_frame", "vkResetCommandPool", res);
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  if ((res = vkBeginCommandBuffer(f->primary, &bi)) != VK_SUCCESS)
    return vk_failed(r, "end_frame", "vkBeginCommandBuffer", res);
  VkFramebuffer fb;
  VkSemaphore wait, signal;
  if ((res = r->target->ops->acquire(r->target, &fb, &wait, &signal)) != VK_SUCCESS)
    return vk_failed(r, "end_frame", "acquiring the target image", res);
  VkClearValue clears[2];
  clears[0].color = (VkClearColorValue){{r->clear.r, r->clear.g, r->clear.b, r->clear.a}};
  clears[1].depthStencil = (VkClearDepthStencilValue){1.0f, 0};
  uint32_t last = 0;
  for (uint32_t p = 1; p < r->pass_count; p++)
    if (drawn[p]) last = p;
  uint32_t at = 0;
  *ran = 0;
  for (uint32_t p = 0; p < r->pass_count; p++) {
    if (p > 0 && !drawn[p]) {
      at += counts[p];
      continue;
    }
    (*ran)++;
    VkRenderPassBeginInfo rb = {
        .sType = VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO,
        .renderPass = p == 0 ? (last == 0 ? r->rp_world_last : r->rp_world)
                             : (p == last ? r->rp_overlay_last : r->rp_overlay),
        .framebuffer = fb,
        .renderArea = {{0, 0}, r->target->extent},
        .clearValueCount = 2,
        .pClearValues = clears};
    vkCmdBeginRenderPass(f->primary, &rb, VK_SUBPASS_CONTENTS_SECONDARY_COMMAND_BUFFERS);
    if (counts[p]) vkCmdExecuteCommands(f->primary, counts[p], lists + at);
    at += counts[p];
    vkCmdEndRenderPass(f->primary);
  }
  if ((res = vkEndCommandBuffer(f->primary)) != VK_SUCCESS) return vk_failed(r, "end_frame", "vkEndCommandBuffer", res);
  VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
  VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                     .waitSemaphoreCount = wait ? 1u : 0u,
                     .pWaitSemaphores = wait ? &wait : NULL,
                     .pWaitDstStageMask = wait ? &wait_stage : NULL,
                     .commandBufferCount = 1,
                     .pCommandBuffers = &f->primary,
                     .signalSemaphoreCount = signal ? 1u : 0u,
                     .pSignalSemaphores = signal ? &signal : NULL};
  VkResult inject = VK_SUCCESS;
  if ((r->fault == FAULT_DEVICE_LOST || r->fault == FAULT_OUT_OF_MEMORY) && r->end_frame_calls == r->fault_frame)
    inject = r->fault == FAULT_DEVICE_LOST ? VK_ERROR_DEVICE_LOST : VK_ERROR_OUT_OF_DEVICE_MEMORY;
  /* A headless target has no semaphores: the submit thread takes it, and a
   * failure (real or injected) reaches main when the frame is waited for. */
  if (r->sub.running)
    f->job = submit_push(r, f->primary, f->fence, inject);
  else if (inject != VK_SUCCESS)
    res = inject;
  else
    res = vkQueueSubmit(r->dev.queue, 1, &si, f->fence);
  if (res != VK_SUCCESS) return vk_failed(r, "end_frame", "vkQueueSubmit", res);
  f->submitted = true;
  f->number = r->end_frame_calls;
  f->serial = ++r->submitted;
  r->last_submitted_slot = (int)r->slot;
  return KEEL_OK;
}

static keel_result vkr_end_frame(keel_renderer *r) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!on_main(r)) return refuse_off_main(r, "end_frame");
  if (!atomic_load_explicit(&r->in_frame, memory_order_relaxed))
    return refuse(r, KEEL_ERR_WRONG_STATE, "end_frame: no frame is open (end_frame called twice, or before begin_frame)");
  atomic_store_explicit(&r->in_frame, false, memory_order_release);
  r->end_frame_calls++;
  keel_result result = KEEL_OK;
  VkCommandBuffer lists[KEEL_RENDERER_MAX_PASSES * KEEL_RENDERER_MAX_WORKERS];
  uint32_t counts[KEEL_RENDERER_MAX_PASSES] = {0}, n = 0, ran = 0;
  bool drawn[KEEL_RENDERER_MAX_PASSES] = {false};
  uint64_t draws = 0, calls = 0, ended = 0;
  for (uint32_t p = 0; p < r->pass_count; p++) {
    for (uint32_t w = 0; w < r->max_workers; w++) {
      struct keel_encoder *e = &r->encoders[p * r->max_workers + w];
      uint64_t word = atomic_exchange_explicit(&e->word, ENC_WORD(0, ENC_IDLE), memory_order_acq_rel);
      if (ENC_STATE(word) == ENC_ENDED) {
        ended++;
        if (e->failure != KEEL_OK) {
          if (result == KEEL_OK) result = e->failure;
          continue;
        }
        lists[n++] = e->cb;
        counts[p]++;
        drawn[p] = drawn[p] || e->draws > 0;
        draws += e->draws;
        calls += e->calls;
      } else if (ENC_STATE(word) == ENC_OPEN) {
        result = refuse(r, KEEL_ERR_WRONG_STATE,
                        "end_frame: encoder (pass %u, worker %u) is still open; its work is dropped (call encoder_end "
                        "before end_frame)",
                        p, w);
      }
    }
  }
  if (r->lost) return refuse_lost(r, "end_frame");
  keel_result sub = frame_record_and_submit(r, lists, counts, drawn, &ran);
  if (sub != KEEL_OK) return sub;
  r->frames_done++;
  r->passes += ran;
  r->encoders_ended += ended;
  r->draws += draws;
  r->draw_calls += calls;
  r->frame_completed = true;
  r->presentable = true;
  return result;
}

static keel_result vkr_present(keel_renderer *r) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!on_main(r)) return refuse_off_main(r, "present");
  if (atomic_load_explicit(&r->in_frame, memory_order_relaxed))
    return refuse(r, KEEL_ERR_WRONG_STATE, "present: a frame is open (call end_frame first)");
  if (r->lost) return refuse_lost(r, "present");
  if (!r->presentable)
    return refuse(r, KEEL_ERR_WRONG_STATE,
                  "present: no completed frame to present (present called twice, or before end_frame)");
  r->presentable = false;
  VkResult res = r->target->ops->present(r->target);
  return res == VK_SUCCESS ? KEEL_OK : vk_failed(r, "present", "presenting the target", res);
}

static keel_result vkr_resize(keel_renderer *r, uint32_t width, uint32_t height) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!on_main(r)) return refuse_off_main(r, "resize");
  if (atomic_load_explicit(&r->in_frame, memory_order_relaxed))
    return refuse(r, KEEL_ERR_WRONG_STATE, "resize: a frame is open (resize between frames)");
  if (width == 0 || height == 0)
    return refuse(r, KEEL_ERR_INVALID_ARGUMENT, "resize: size %ux%u, both must be at least 1", width, height);
  if (r->lost) return refuse_lost(r, "resize");
  /* A resize replaces images that frames in flight use: the one place the
   * renderer waits for the whole device. */
  submit_wait(r, 0);
  VkResult res = vkDeviceWaitIdle(r->dev.device);
  if (res != VK_SUCCESS) return vk_failed(r, "resize", "vkDeviceWaitIdle", res);
  for (uint32_t i = 0; i < r->frames_in_flight; i++)
    if (r->frames[i].submitted && r->frames[i].serial > r->completed) r->completed = r->frames[i].serial;
  if ((res = r->target->ops->resize(r->target, width, height)) != VK_SUCCESS)
    return vk_failed(r, "resize", "recreating the target images", res);
  r->frame_completed = false; /* the old frame is gone with its image */
  return KEEL_OK;
}

/* ---- meshes (main thread) ---- */

static keel_result check_mesh_desc(keel_renderer *r, const keel_mesh_desc *d) {
  if (!KEEL_HAS_MEMBER(d, keel_mesh_desc, index_count))
    return refuse(r, KEEL_ERR_INVALID_ARGUMENT, "mesh_create: the mesh desc is too small");
  if (d->builtin != KEEL_MESH_CUSTOM && (d->builtin < KEEL_MESH_CUBE || d->builtin > KEEL_MESH_PLANE))
    return refuse(r, KEEL_ERR_INVALID_ARGUMENT, "mesh_create: unknown builtin mesh %d", (int)d->builtin);
  if (!d->positions || d->vertex_count == 0)
    return refuse(r, KEEL_ERR_INVALID_ARGUMENT,
                  "mesh_create: a mesh needs positions and vertex_count (built-ins too: the host sends their "
                  "geometry)");
  if (d->index_count) {
    if (!d->indices || d->index_count % 3)
      return refuse(r, KEEL_ERR_INVALID_ARGUMENT, "mesh_create: %u indices%s: a triangle list needs a multiple of 3",
                    d->index_count, d->indices ? "" : " from NULL");
    for (uint32_t i = 0; i < d->index_count; i++)
      if (d->indices[i] >= d->vertex_count)
        return refuse(r, KEEL_ERR_INVALID_ARGUMENT, "mesh_create: index %u is %u, past the %u vertices", i,
                      d->indices[i], d->vertex_count);
  } else if (d->vertex_count % 3) {
    return refuse(r, KEEL_ERR_INVALID_ARGUMENT,
                  "mesh_create: %u vertices without indices: a triangle list needs a multiple of 3", d->vertex_count);
  }
  for (uint32_t i = 0; i < d->vertex_count * 3; i++)
    if (!(d->positions[i] == d->positions[i]) || (d->normals && !(d->normals[i] == d->normals[i])))
      return refuse(r, KEEL_ERR_INVALID_ARGUMENT, "mesh_create: vertex %u has a NaN position or normal", i / 3);
  return KEEL_OK;
}

/* Interleaved position + normal; a mesh given without normals gets each
 * vertex's area-weighted average of its triangles' normals. */
static void vertices_fill(float *v, const keel_mesh_desc *d, const uint32_t *idx, uint32_t icount) {
  for (uint32_t i = 0; i < d->vertex_count; i++) {
    memcpy(v + i * 6, d->positions + i * 3, 12);
    if (d->normals)
      memcpy(v + i * 6 + 3, d->normals + i * 3, 12);
    else
      v[i * 6 + 3] = v[i * 6 + 4] = v[i * 6 + 5] = 0.0f;
  }
  if (d->normals) return;
  for (uint32_t t = 0; t + 2 < icount; t += 3) {
    const float *a = d->positions + idx[t] * 3, *b = d->positions + idx[t + 1] * 3, *c = d->positions + idx[t + 2] * 3;
    float u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, w[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    float n[3] = {u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]};
    for (int k = 0; k < 3; k++)
      for (int j = 0; j < 3; j++) v[idx[t + (uint32_t)k] * 6 + 3 + (uint32_t)j] += n[j];
  }
  for (uint32_t i = 0; i < d->vertex_count; i++) {
    float *n = v + i * 6 + 3;
    float l = n[0] * n[0] + n[1] * n[1] + n[2] * n[2];
    if (l > 0) {
      float s = 1.0f / sqrtf(l);
      n[0] *= s, n[1] *= s, n[2] *= s;
    } else {
      n[0] = 0, n[1] = 1, n[2] = 0;
    }
  }
}

static keel_result vkr_mesh_create(keel_renderer *r, const keel_mesh_desc *desc, keel_mesh *out) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (out) out->id = 0;
  if (!on_main(r)) return refuse_off_main(r, "mesh_create");
  if (!desc || !out) return refuse(r, KEEL_ERR_INVALID_ARGUMENT, "mesh_create: desc or out is NULL");
  keel_result kr = check_mesh_desc(r, desc);
  if (kr != KEEL_OK) return kr;
  if (r->lost) return refuse_lost(r, "mesh_create");
  if (r->free_head >= VKR_MESH_SLOTS)
    return refuse(r, KEEL_ERR_FULL, "mesh_create: all %u mesh slots are in use", VKR_MESH_SLOTS);
  uint32_t icount = desc->index_count ? desc->index_count : desc->vertex_count;
  VkDeviceSize vbytes = (VkDeviceSize)desc->vertex_count * 24u, bytes = vbytes + (VkDeviceSize)icount * 4u;
  uint8_t *data = malloc(bytes);
  if (!data) return refuse(r, KEEL_ERR_OUT_OF_MEMORY, "mesh_create: no memory for %u vertices", desc->vertex_count);
  uint32_t *idx = (uint32_t *)(data + vbytes);
  for (uint32_t i = 0; i < icount; i++) idx[i] = desc->index_count ? desc->indices[i] : i;
  vertices_fill((float *)data, desc, idx, icount);

  vkr_buffer buf;
  VkResult res = vkr_buffer_create(&r->dev, bytes,
                                   VK_BUFFER_USAGE_VERTEX_BUFFER_BIT | VK_BUFFER_USAGE_INDEX_BUFFER_BIT |
                                       VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                                   VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0, &buf);
  const char *failed = "vkCreateBuffer (mesh)";
  if (res == VK_SUCCESS && buf.mapped) {
    /* Device-local memory the CPU can see (a CPU device, an integrated GPU):
     * written in place, no staging copy. */
    memcpy(buf.mapped, data, bytes);
  } else if (res == VK_SUCCESS) {
    vkr_buffer staging;
    failed = "vkCreateBuffer (staging)";
    res = vkr_buffer_create(&r->dev, bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT,
                            VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, 0, &staging);
    if (res == VK_SUCCESS) {
      memcpy(staging.mapped, data, bytes);
      failed = "vkBeginCommandBuffer";
      if ((res = once_begin(r)) == VK_SUCCESS) {
        VkBufferCopy region = {0, 0, bytes};
        vkCmdCopyBuffer(r->once_cb, staging.buffer, buf.buffer, 1, &region);
        /* The upload is complete when the fence signals; frames submitted
         * later on the same queue see it through that ordering. */
        res = once_submit_wait(r, &failed);
      }
      vkr_buffer_destroy(&r->dev, &staging);
    }
    if (res != VK_SUCCESS) vkr_buffer_destroy(&r->dev, &buf);
  }
  free(data);
  if (res != VK_SUCCESS) return vk_failed(r, "mesh_create", failed, res);
  uint32_t slot = r->free_head;
  vkr_mesh *m = &r->meshes[slot];
  r->free_head = m->next_free;
  if (++m->generation == 0) m->generation = 1;
  m->buffer = buf;
  m->index_offset = vbytes;
  m->index_count = icount;
  uint32_t id = ((uint32_t)m->generation << 16) | slot;
  atomic_store_explicit(&m->live, id, memory_order_release);
  r->live_meshes++;
  out->id = id;
  return KEEL_OK;
}

static keel_result vkr_mesh_destroy(keel_renderer *r, keel_mesh mesh) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!on_main(r)) return refuse_off_main(r, "mesh_destroy");
  uint32_t slot = mesh.id & VKR_MESH_INDEX_MASK;
  if (mesh.id == 0 || slot >= VKR_MESH_SLOTS ||
      atomic_load_explicit(&r->meshes[slot].live, memory_order_relaxed) != mesh.id)
    return refuse(r, KEEL_ERR_STALE_ID, "mesh_destroy: mesh 0x%08x is not a live mesh (never created, or destroyed)",
                  mesh.id);
  /* Frames in flight (and the open one) may still draw it: freed once
   * every frame submitted so far, and the next, has completed. */
  if (r->garbage_count == r->garbage_cap) {
    uint32_t cap = r->garbage_cap ? r->garbage_cap * 2 : 16;
    vkr_garbage *g = realloc(r->garbage, cap * sizeof *g);
    if (!g) return refuse(r, KEEL_ERR_OUT_OF_MEMORY, "mesh_destroy: out of memory");
    r->garbage = g;
    r->garbage_cap = cap;
  }
  r->garbage[r->garbage_count++] = (vkr_garbage){.buffer = r->meshes[slot].buffer, .serial = r->submitted + 1};
  memset(&r->meshes[slot].buffer, 0, sizeof r->meshes[slot].buffer);
  atomic_store_explicit(&r->meshes[slot].live, 0, memory_order_release);
  r->meshes[slot].next_free = r->free_head;
  r->free_head = slot;
  r->live_meshes--;
  return KEEL_OK;
}

static keel_result vkr_stats(keel_renderer *r, keel_renderer_stats *out) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!on_main(r)) return refuse_off_main(r, "stats");
  if (!out) return refuse(r, KEEL_ERR_INVALID_ARGUMENT, "stats: out is NULL");
  keel_renderer_stats s = {
      .struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats),
      .frames = r->frames_done,
      .passes = r->passes,
      .encoders = r->encoders_ended,
      .draws = r->draws,
      .errors = atomic_load_explicit(&r->errors, memory_order_relaxed),
      .meshes = r->live_meshes,
      .draw_calls = r->draw_calls,
      .debug_messages = atomic_load_explicit(&r->dev.debug_messages, memory_order_relaxed),
  };
  uint32_t room = out->struct_size ? out->struct_size : s.struct_size;
  if (room < s.struct_size) s.struct_size = room;
  memcpy(out, &s, s.struct_size);
  return KEEL_OK;
}

/* ---- readback (main thread) ---- */

static keel_result vkr_readback_rgba8(keel_renderer *r, uint8_t *pixels, size_t capacity, uint32_t *width,
                                      uint32_t *height) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!on_main(r)) return refuse_off_main(r, "readback_rgba8");
  if (!width || !height) return refuse(r, KEEL_ERR_INVALID_ARGUMENT, "readback_rgba8: width or height is NULL");
  if (!r->frame_completed)
    return refuse(r, KEEL_ERR_WRONG_STATE, "readback_rgba8: no frame has completed yet (call after end_frame)");
  VkExtent2D ext = r->target->extent;
  *width = ext.width;
  *height = ext.height;
  size_t need = (size_t)ext.width * ext.height * 4u;
  if (capacity < need) return KEEL_ERR_FULL; /* how a caller learns the size: not a refusal */
  if (!pixels) return refuse(r, KEEL_ERR_INVALID_ARGUMENT, "readback_rgba8: pixels is NULL");
  if (r->lost) return refuse_lost(r, "readback_rgba8");
  if (atomic_load_explicit(&r->in_frame, memory_order_relaxed))
    return refuse(r, KEEL_ERR_WRONG_STATE, "readback_rgba8: a frame is open (read back between frames)");
  keel_result kr = frame_wait(r, &r->frames[r->last_submitted_slot], "readback_rgba8");
  if (kr != KEEL_OK) return kr;
  VkResult res = VK_SUCCESS;
  if (r->readback.size < need) {
    vkr_buffer_destroy(&r->dev, &r->readback);
    res = vkr_buffer_create(&r->dev, need, VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                            VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                            VK_MEMORY_PROPERTY_HOST_CACHED_BIT, &r->readback);
    if (res != VK_SUCCESS) return vk_failed(r, "readback_rgba8", "vkCreateBuffer (readback)", res);
  }
  const char *failed = "vkBeginCommandBuffer";
  if ((res = once_begin(r)) != VK_SUCCESS) return vk_failed(r, "readback_rgba8", failed, res);
  if (!r->target->ops->record_readback(r->target, r->once_cb, r->readback.buffer)) {
    vkEndCommandBuffer(r->once_cb);
    return refuse(r, KEEL_ERR_UNSUPPORTED, "readback_rgba8: the %s target cannot be read back", r->target->ops->name);
  }
  if ((res = once_submit_wait(r, &failed)) != VK_SUCCESS) return vk_failed(r, "readback_rgba8", failed, res);
  memcpy(pixels, r->readback.mapped, need);
  return KEEL_OK;
}

/* ---- the plugin ---- */

static const keel_renderer_api vkr_api = {
    .struct_size = KEEL_STRUCT_SIZE(keel_renderer_api),
    .api = KEEL_GRAPHICS_VULKAN,
    .create = vkr_create,
    .destroy = vkr_destroy,
    .begin_frame = vkr_begin_frame,
    .encoder_begin = vkr_encoder_begin,
    .encoder_set_camera = vkr_encoder_set_camera,
    .encoder_draw = vkr_encoder_draw,
    .encoder_end = vkr_encoder_end,
    .end_frame = vkr_end_frame,
    .present = vkr_present,
    .resize = vkr_resize,
    .mesh_create = vkr_mesh_create,
    .mesh_destroy = vkr_mesh_destroy,
    .stats = vkr_stats,
};

static const keel_renderer_readback_api vkr_readback_api = {
    .struct_size = KEEL_STRUCT_SIZE(keel_renderer_readback_api),
    .readback_rgba8 = vkr_readback_rgba8,
};

static const void *vkr_get_interface(const char *id) {
  if (keel_interface_is(id, KEEL_RENDERER_INTERFACE)) return &vkr_api;
  if (keel_interface_is(id, KEEL_RENDERER_READBACK_INTERFACE)) return &vkr_readback_api;
  return NULL;
}

static const keel_plugin_manifest vkr_manifest = {
    .struct_size = KEEL_STRUCT_SIZE(keel_plugin_manifest),
    .abi_major = KEEL_ABI_MAJOR,
    .abi_minor = KEEL_ABI_MINOR,
    .name = "vulkan",
    .kind = KEEL_PLUGIN_RENDERER,
    .version = "1.0.0",
    .description = "Vulkan 1.1 renderer: secondary command buffers recorded on the job workers, instanced draws, "
                   "headless offscreen target, readback",
    .get_interface = vkr_get_interface,
};

KEEL_PLUGIN_ENTRY(&vkr_manifest)
