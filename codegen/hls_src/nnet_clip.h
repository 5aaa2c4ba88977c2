// Clipped activation for edmips codegen (ReLU6, Hardtanh): res = (res_T) min(max(x, lo), hi).
// Registered with hls4ml through its extension API (backend.register_source); lo and hi are
// exact constants of bound_t, so the only rounding is the declared cast to res_T.
#ifndef NNET_CLIP_H_
#define NNET_CLIP_H_

#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

template <class data_T, class res_T, typename CONFIG_T> void clip(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    #pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        data_T x = data[i];
        if (x < CONFIG_T::lo)
            res[i] = CONFIG_T::lo;
        else if (x > CONFIG_T::hi)
            res[i] = CONFIG_T::hi;
        else
            res[i] = x;
    }
}

template <class data_T, class res_T, typename CONFIG_T> void clip(hls::stream<data_T> &data, hls::stream<res_T> &res) {
ClipLoop:
    for (int i = 0; i < CONFIG_T::n_in / res_T::size; i++) {
        #pragma HLS PIPELINE
        data_T in_data = data.read();
        res_T out_data;
        PRAGMA_DATA_PACK(out_data)
    ClipPackLoop:
        for (int j = 0; j < res_T::size; j++) {
            #pragma HLS UNROLL
            if (in_data[j] < CONFIG_T::lo)
                out_data[j] = CONFIG_T::lo;
            else if (in_data[j] > CONFIG_T::hi)
                out_data[j] = CONFIG_T::hi;
            else
                out_data[j] = in_data[j];
        }
        res.write(out_data);
    }
}

} // namespace nnet

#endif
